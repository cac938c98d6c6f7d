import XCTest
@testable import Model

/// Which OpenBLAS kernels lpft-mpi asks for when OpenBLAS mistakes the CPU for an old one.
final class BLASSetupTests: XCTestCase {
    let avx512: Set<Substring> = ["sse4_2", "avx", "avx2", "fma", "avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"]
    let avx2: Set<Substring> = ["sse4_2", "avx", "avx2", "fma"]

    func testGenericDetectionOnNewCPUsGetsTheMatchingFamily() {
        XCTAssertEqual(BLAS.betterCoreType(environment: [:], detected: "Prescott", cpuFlags: avx512), "SkylakeX")
        XCTAssertEqual(BLAS.betterCoreType(environment: [:], detected: "Nehalem", cpuFlags: avx2), "Haswell")
        // AVX-512 without BW/VL (Knights Landing) is not a SkylakeX.
        XCTAssertEqual(BLAS.betterCoreType(environment: [:], detected: "Prescott",
                                           cpuFlags: avx2.union(["avx512f", "avx512cd"])), "Haswell")
    }

    func testAUsersChoiceOrASpecificFamilyStands() {
        XCTAssertNil(BLAS.betterCoreType(environment: ["OPENBLAS_CORETYPE": "Prescott"], detected: "Prescott", cpuFlags: avx512))
        XCTAssertNil(BLAS.betterCoreType(environment: [:], detected: "Zen", cpuFlags: avx2))
        XCTAssertNil(BLAS.betterCoreType(environment: [:], detected: "Haswell", cpuFlags: avx512))
        XCTAssertNil(BLAS.betterCoreType(environment: [:], detected: "Prescott", cpuFlags: ["sse3", "sse4_2", "avx"]))
    }

    func testProcessorFlagsAreRead() throws {
        let flags = try XCTUnwrap(BLAS.processorFlags(), "/proc/cpuinfo has a flags line on Linux")
        XCTAssertTrue(flags.contains("sse2"), "every x86-64 CPU has SSE2")
    }
}
