import ArgumentParser
import Distributed
import Foundation
import Model

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmarks that print numbers (rank 0), each against a named baseline.",
        subcommands: [BenchAllreduce.self, BenchModel.self, BenchStep.self, BenchNTK.self, BenchAnalysis.self])
}

struct BenchAllreduce: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "allreduce",
        abstract: "In-place float allreduce through the Swift communicator vs a raw C MPI_Allreduce loop.",
        discussion: """
            Per message size: latency (µs, slowest rank), algbw = bytes / time and \
            busbw = algbw · 2(P−1)/P (GB/s, as nccl-tests and osu_allreduce define them), for the \
            Swift wrapper and for a loop written in C inside the shim (no Swift in the timed loop). \
            Each is measured twice, interleaved, and the faster run is kept.
            """)

    @OptionGroup var job: JobOptions
    @Option(parsing: .unconditional, help: "Smallest message in bytes (power of two, ≥ 4).")
    var minBytes = 4
    @Option(parsing: .unconditional, help: "Largest message in bytes.")
    var maxBytes = 256 << 20
    @Option(parsing: .unconditional, help: "Timed iterations are about this many bytes per measurement (min 5, max 1000 iterations).")
    var bytesPerMeasurement = 512 << 20
    @Flag(help: "Print one JSON object {\"rows\": [...]} instead of a table.")
    var json = false

    struct Row: Encodable {
        var bytes: Int
        var iterations: Int
        var latency_us: Double
        var algbw_gbs: Double
        var busbw_gbs: Double
        var raw_latency_us: Double
        var raw_busbw_gbs: Double
        var busbw_ratio: Double?
    }
    struct Output: Encodable {
        var world_size: Int
        var rows: [Row]
    }

    func validate() throws {
        try Check.integer("--min-bytes", minBytes, in: 4...(1 << 34))
        guard minBytes & (minBytes - 1) == 0 else {
            throw InvalidSetting("--min-bytes", value: String(minBytes), expected: "a power of two (the sizes double from it)", hint: "e.g. 4, 1024 or 65536")
        }
        try Check.integer("--max-bytes", maxBytes, in: minBytes...(1 << 34), hint: "at least --min-bytes")
        try Check.integer("--bytes-per-measurement", bytesPerMeasurement, in: 1...(1 << 40))
    }

    func run(comm: Communicator) throws {
        let maxCount = maxBytes / 4
        let buffer = UnsafeMutableBufferPointer<Float>.allocate(capacity: maxCount)
        defer { buffer.deallocate() }
        // Zeros keep the values finite however many sums run.
        buffer.initialize(repeating: 0)
        var rows: [Row] = []
        if !json { printRoot(comm, Self.header) }
        var bytes = minBytes
        while bytes <= maxBytes {
            let count = bytes / 4
            let slice = UnsafeMutableBufferPointer(rebasing: buffer[0..<count])
            let iterations = min(1000, max(5, bytesPerMeasurement / bytes))
            let warmup = max(2, iterations / 10)
            var swiftSeconds = Double.infinity, rawSeconds = Double.infinity
            for _ in 0..<2 {
                swiftSeconds = min(swiftSeconds, try timeSwift(comm, slice, warmup: warmup, iterations: iterations))
                rawSeconds = min(rawSeconds, try comm.allreduceMax(comm.rawAllreduceSeconds(slice, warmup: warmup, iterations: iterations)))
            }
            let factor = 2.0 * Double(comm.size - 1) / Double(comm.size)
            let algbw = Double(bytes) / swiftSeconds / 1e9
            let rawAlgbw = Double(bytes) / rawSeconds / 1e9
            let row = Row(bytes: bytes, iterations: iterations, latency_us: swiftSeconds * 1e6,
                          algbw_gbs: algbw, busbw_gbs: algbw * factor,
                          raw_latency_us: rawSeconds * 1e6, raw_busbw_gbs: rawAlgbw * factor,
                          busbw_ratio: comm.size > 1 ? (algbw / rawAlgbw) : nil)
            rows.append(row)
            if !json { printRoot(comm, Self.format(row)) }
            bytes *= 2
        }
        if json, comm.isRoot { try printJSON(Output(world_size: comm.size, rows: rows)) }
    }

    /// Mean seconds per call of the Swift wrapper, slowest rank.
    private func timeSwift(_ comm: Communicator, _ buffer: UnsafeMutableBufferPointer<Float>,
                           warmup: Int, iterations: Int) throws -> Double {
        for _ in 0..<warmup { try comm.allreduceSum(buffer) }
        try comm.barrier()
        let start = comm.wallTime()
        for _ in 0..<iterations { try comm.allreduceSum(buffer) }
        return try comm.allreduceMax((comm.wallTime() - start) / Double(iterations))
    }

    static let header = tableRow(["bytes", "iters", "latency_us", "algbw_GB/s", "busbw_GB/s",
                                  "raw_lat_us", "raw_busbw", "ratio"], widths: widths)
    static let widths = [12, 6, 12, 11, 11, 12, 10, 7]
    static func format(_ r: Row) -> String {
        tableRow([String(r.bytes), String(r.iterations), String(format: "%.2f", r.latency_us),
                  String(format: "%.3f", r.algbw_gbs), String(format: "%.3f", r.busbw_gbs),
                  String(format: "%.2f", r.raw_latency_us), String(format: "%.3f", r.raw_busbw_gbs),
                  r.busbw_ratio.map { String(format: "%.3f", $0) } ?? "-"], widths: widths)
    }
}
