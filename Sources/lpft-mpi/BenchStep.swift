import ArgumentParser
import Distributed
import Foundation
import Model

struct BenchStep: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "step",
        abstract: "A data-parallel FT step with the gradient sums after backward vs during it (--overlap).",
        discussion: """
            Every rank runs FT steps of the encoder (random weights, random token ids of exactly \
            --seq tokens, --batch examples per rank) and averages the gradients over the ranks \
            with the trainer's gradient buckets. Per round, in turn: compute (forward + backward, \
            no communication), overlap off (the buckets summed after backward; the wait is the \
            allreduce time), overlap on (summed while backward runs). Reports medians over \
            --rounds of the slowest rank, and hidden_fraction = (step_off − step_on) / allreduce: \
            the share of the communication that backward hid. Rank 0 reports.
            """)

    @OptionGroup var job: JobOptions
    @OptionGroup var shape: BenchShape
    @Option(parsing: .unconditional, help: "Timed rounds (each: compute, off, on).")
    var rounds = 8
    @Option(parsing: .unconditional, help: "Gradient bucket size in MiB.")
    var bucketMb: Double = 25
    @Option(help: "Type of the gradients between ranks: f32 or bf16.")
    var allreduceDtype: WireType = .f32
    @Flag(help: "Print one JSON object.")
    var json = false

    struct Report: Encodable {
        var ranks: Int, batch: Int, seq: Int, bucket_mb: Double, rounds: Int
        var allreduce_dtype: String
        /// Bytes each rank puts into the sums per step (the gradients in the wire type).
        var gradient_bytes: Int
        var compute_s: Double, allreduce_s: Double, step_off_s: Double, step_on_s: Double
        var hidden_fraction: Double
    }

    func validate() throws {
        try Check.integer("--rounds", rounds, in: 1...10_000)
        try Check.real("--bucket-mb", bucketMb, in: 0...1_048_576, openBelow: true)
    }

    func run(comm: Communicator) throws {
        // The same weights on every rank, each rank its own tokens (its own touched word rows).
        let (classifier, tokens) = try shape.classifier(tokenSeed: 100 + UInt64(comm.rank))
        let batch = shape.batch, seq = shape.seq
        let labels = (0..<batch).map { $0 % 2 }
        let trainable = 0..<classifier.parameters.count
        let bytes = Int(bucketMb * 1_048_576)
        let off = GradientBuckets(comm: comm, model: classifier, trainable: trainable, bucketBytes: bytes, overlap: false, wire: allreduceDtype)
        let on = GradientBuckets(comm: comm, model: classifier, trainable: trainable, bucketBytes: bytes, overlap: true, wire: allreduceDtype)

        /// One step's (seconds, seconds waiting for the sums); every rank starts together.
        func step(_ buckets: GradientBuckets?) throws -> (Double, Double) {
            try comm.barrier()
            let start = comm.wallTime()
            classifier.zeroGradients()
            classifier.forward(tokens, dropoutSeed: 7)
            classifier.loss(labels: labels)
            var wait = 0.0
            if let buckets {
                classifier.backward(onGradientsReady: buckets.gradientsReady)
                wait = try buckets.finish()
            } else {
                classifier.backward()
            }
            return (comm.wallTime() - start, wait)
        }
        _ = try step(nil); _ = try step(off); _ = try step(on)  // warm-up: buffers, connections
        var compute: [Double] = [], allreduce: [Double] = [], stepOff: [Double] = [], stepOn: [Double] = []
        for _ in 0..<rounds {
            compute.append(try comm.allreduceMax(step(nil).0))
            let (offSeconds, offWait) = try step(off)
            stepOff.append(try comm.allreduceMax(offSeconds))
            allreduce.append(try comm.allreduceMax(offWait))
            stepOn.append(try comm.allreduceMax(step(on).0))
        }
        func median(_ values: [Double]) -> Double { let s = values.sorted(); return s[s.count / 2] }
        let width = allreduceDtype == .bf16 ? 2 : 4
        let gradientBytes = (classifier.parameters.count - classifier.touchedRows.table.count) * width
            + classifier.touchedRows.gradientRanges(within: classifier.touchedRows.table).reduce(0) { $0 + $1.count } * width
        let report = Report(ranks: comm.size, batch: batch, seq: seq, bucket_mb: bucketMb, rounds: rounds,
                            allreduce_dtype: allreduceDtype.rawValue, gradient_bytes: gradientBytes,
                            compute_s: median(compute), allreduce_s: median(allreduce),
                            step_off_s: median(stepOff), step_on_s: median(stepOn),
                            hidden_fraction: (median(stepOff) - median(stepOn)) / max(median(allreduce), 1e-9))
        guard comm.isRoot else { return }
        if json { return try printJSON(report) }
        print(String(format: """
            step bench (%d rank(s), batch %d × %d per rank, buckets %g MiB of %@, %d round(s), medians of the slowest rank)
              compute (forward + backward)   %.3f s
              allreduce after backward       %.3f s  (%.1f MB of gradients)
              step, overlap off              %.3f s
              step, overlap on               %.3f s
              hidden by backward             %.0f%% of the allreduce
            """, comm.size, batch, seq, bucketMb, allreduceDtype.rawValue, rounds, report.compute_s, report.allreduce_s,
                     Double(gradientBytes) / 1e6, report.step_off_s, report.step_on_s, 100 * report.hidden_fraction))
    }
}
