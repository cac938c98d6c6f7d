import Foundation
import XCTest
import Model

/// The binary runs OpenBLAS kernels that match the CPU, choosing them itself when OpenBLAS took
/// the CPU for an old generic one (BLAS.betterCoreType; Debian 12's 0.3.21 on Sapphire Rapids).
final class BLASKernelChoiceTests: XCTestCase {
    struct Info: Decodable {
        var blasCoreName: String
        var openblasCoretypeEnv: String?
        var openblasDetectedCore: String?
    }

    func info(_ environmentChange: [String]) throws -> Info {
        let r = try MPILauncher.runProcess("/usr/bin/env", environmentChange + [MPILauncher.binary.path, "info", "--json"],
                                           timeout: 60, environment: [:])
        assertSucceeded(r, "info --json")
        return try JSONDecoder().decode(Info.self, from: Data(r.stdout.utf8))
    }

    func testTheBinaryRunsKernelsForThisCPU() throws {
        let flags = try XCTUnwrap(BLAS.processorFlags())
        let chosen = try info(["-u", "OPENBLAS_CORETYPE", "-u", "LPFT_OPENBLAS_DETECTED"])
        let generic: Set<String> = ["Prescott", "Katmai", "Coppermine", "Northwood", "Banias", "Core2", "Penryn",
                                    "Dunnington", "Nehalem", "Atom"]
        if flags.isSuperset(of: ["avx2", "fma"]) {
            XCTAssertFalse(generic.contains(chosen.blasCoreName),
                           "an AVX2 CPU runs \(chosen.blasCoreName) kernels (OpenBLAS found \(chosen.openblasDetectedCore ?? "it itself"))")
        }
        if let detected = chosen.openblasDetectedCore {
            // lpft-mpi stepped in: the family is the one it names for this CPU, set in the environment.
            XCTAssertEqual(chosen.blasCoreName, BLAS.betterCoreType(environment: [:], detected: detected, cpuFlags: flags))
            XCTAssertEqual(chosen.openblasCoretypeEnv, chosen.blasCoreName)
        }
    }

    func testAUsersCoreTypeIsKept() throws {
        let chosen = try info(["-u", "LPFT_OPENBLAS_DETECTED", "OPENBLAS_CORETYPE=Prescott"])
        XCTAssertEqual(chosen.blasCoreName, "Prescott")
        XCTAssertNil(chosen.openblasDetectedCore)
    }
}
