import ArgumentParser
import Distributed
import Foundation
import Model

struct Info: RankCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show the world (ranks, hosts), the MPI library and the BLAS set-up.")

    @OptionGroup var job: JobOptions
    @Flag(help: "Print one JSON object instead of text.")
    var json = false

    struct Report: Encodable {
        var worldSize: Int
        var hosts: [String]
        var mpiLibrary: String
        var mpiThreadLevel: Int
        var blasConfiguration: String
        var blasThreads: [Int]
        var blasCoreName: String
        var openblasCoretypeEnv: String?
        /// The family OpenBLAS found itself when lpft-mpi named a better one (BLAS.betterCoreType).
        var openblasDetectedCore: String?
        var openblasNumThreadsEnv: String?
    }

    func run(comm: Communicator) throws {
        // Every rank reports its host and BLAS threads; rank 0 prints them in rank order.
        let host = comm.hostName
        let hostBytes = try comm.gatherv(Array(host.utf8) + [0])
        let threads = try comm.gatherv([Int64(BLAS.threads)])
        guard comm.isRoot, let hostBytes, let threads else { return }
        let hosts = hostBytes.split(separator: 0, omittingEmptySubsequences: false).dropLast().map {
            String(decoding: $0, as: UTF8.self)
        }
        let env = ProcessInfo.processInfo.environment
        let report = Report(worldSize: comm.size, hosts: hosts,
                            mpiLibrary: Communicator.libraryVersion.components(separatedBy: ",").first ?? "",
                            mpiThreadLevel: comm.threadLevel,
                            blasConfiguration: BLAS.configuration,
                            blasThreads: threads.map(Int.init), blasCoreName: BLAS.coreName,
                            openblasCoretypeEnv: env["OPENBLAS_CORETYPE"],
                            openblasDetectedCore: env["LPFT_OPENBLAS_DETECTED"],
                            openblasNumThreadsEnv: env["OPENBLAS_NUM_THREADS"])
        if json { return try printJSON(report) }
        let levels = ["single", "funneled", "serialized", "multiple"]
        var distinctHosts: [String] = []
        for h in hosts where !distinctHosts.contains(h) { distinctHosts.append(h) }
        print("""
            world size      \(report.worldSize) rank(s) on \(distinctHosts.count) host(s): \(distinctHosts.joined(separator: ", "))
            MPI library     \(report.mpiLibrary) (thread level \(levels[min(report.mpiThreadLevel, 3)]))
            BLAS            \(report.blasConfiguration)
            BLAS core       \(report.blasCoreName) (OPENBLAS_CORETYPE=\(report.openblasCoretypeEnv ?? "unset")\(report.openblasDetectedCore.map { ", set by lpft-mpi: OpenBLAS took this CPU for \($0)" } ?? ""))
            BLAS threads    \(report.blasThreads.map(String.init).joined(separator: ", ")) per rank (OPENBLAS_NUM_THREADS=\(report.openblasNumThreadsEnv ?? "unset"))
            """)
    }
}
