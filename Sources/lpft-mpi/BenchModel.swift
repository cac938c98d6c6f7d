import ArgumentParser
import Distributed
import Foundation
import Model

struct BenchModel: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "model",
        abstract: "Training and eval throughput of the encoder at a fixed shape vs plain sgemm.",
        discussion: """
            One training step = forward with dropout + cross-entropy + backward + gradient \
            clipping + AdamW over every parameter (FT). Eval = forward without dropout. Inputs are \
            random token ids of exactly --seq tokens. GFLOP/s (train and eval) counts the \
            products this implementation performs; sgemm GFLOP/s is a plain 1536³ product in the \
            same process with the same threads. Every rank runs the benchmark; rank 0 reports.
            """)

    @OptionGroup var job: JobOptions
    @OptionGroup var shape: BenchShape
    @Option(parsing: .unconditional, help: "Timed training steps.")
    var steps = 10
    @Flag(help: "Print one JSON object.")
    var json = false

    struct Report: Encodable {
        var batch: Int, seq: Int, threads: Int
        var train_examples_per_s: Double
        var eval_examples_per_s: Double
        var train_step_seconds: Double
        var train_gflops: Double
        var eval_gflops: Double
        var sgemm_gflops: Double
        var train_gflops_ratio_to_sgemm: Double
        var peak_rss_mib: Double
    }

    func validate() throws {
        try Check.integer("--steps", steps, in: 1...100_000)
    }

    func run(comm: Communicator) throws {
        let (classifier, tokens) = try shape.classifier(tokenSeed: 2)
        let batch = shape.batch, seq = shape.seq
        let labels = (0..<batch).map { $0 % 2 }
        let range = 0..<classifier.parameters.count
        let optimizer = AdamW(parameters: classifier.parameters, range: range, weightDecay: 0)
        optimizer.setSparseTable(range: classifier.wordEmbeddingTable.range, rowLength: classifier.wordEmbeddingTable.rowLength)

        func trainStep(_ step: Int) {
            classifier.zeroGradients()
            classifier.forward(tokens, dropoutSeed: UInt64(step))
            classifier.loss(labels: labels)
            classifier.backward()
            let norm = gradientNorm(classifier.parameters, ranges: classifier.touchedRows.gradientRanges(within: range))
            optimizer.update(classifier.parameters, learningRate: 1e-5, gradientScale: clippingFactor(norm: norm, maxNorm: 1),
                             touchedRows: classifier.touchedRows)
        }
        for s in 0..<2 { trainStep(s) }  // warm-up: allocation, page faults, BLAS buffers
        let trainStart = ProcessStats.now()
        for s in 0..<steps { trainStep(2 + s) }
        let stepSeconds = (ProcessStats.now() - trainStart) / Double(steps)

        classifier.forward(tokens)
        let evalSteps = max(3, steps)
        let evalStart = ProcessStats.now()
        for _ in 0..<evalSteps { classifier.forward(tokens) }
        let evalSeconds = (ProcessStats.now() - evalStart) / Double(evalSteps)

        let sgemm = BLAS.sgemmGFLOPS()
        let gflops = classifier.flops(batch: batch, seqLen: seq, training: true) / stepSeconds / 1e9
        let evalGFLOPS = classifier.flops(batch: batch, seqLen: seq, training: false) / evalSeconds / 1e9
        let report = Report(batch: batch, seq: seq, threads: BLAS.threads,
                            train_examples_per_s: Double(batch) / stepSeconds,
                            eval_examples_per_s: Double(batch) / evalSeconds,
                            train_step_seconds: stepSeconds, train_gflops: gflops, eval_gflops: evalGFLOPS,
                            sgemm_gflops: sgemm,
                            train_gflops_ratio_to_sgemm: gflops / sgemm,
                            peak_rss_mib: ProcessStats.peakResidentMiB())
        guard comm.isRoot else { return }
        if json { return try printJSON(report) }
        print(String(format: """
            model bench (batch %d, seq %d, %d BLAS thread(s))
              train  %.2f examples/s  (%.3f s/step, %.1f GFLOP/s = %.0f%% of sgemm)
              eval   %.2f examples/s  (%.1f GFLOP/s)
              sgemm  %.1f GFLOP/s (1536³, same process and threads)
              peak resident memory %.0f MiB
            """, batch, seq, report.threads, report.train_examples_per_s, stepSeconds, gflops,
                     100 * report.train_gflops_ratio_to_sgemm, report.eval_examples_per_s, evalGFLOPS, sgemm,
                     report.peak_rss_mib))
    }
}

/// The shape and model of `bench model` and `bench step`.
struct BenchShape: ParsableArguments {
    @Option(parsing: .unconditional, help: "Examples per step (on every rank).")
    var batch = 8
    @Option(parsing: .unconditional, help: "Tokens per example.")
    var seq = 128
    @Option(help: "Model directory (config.json); default: the fetched all-MiniLM-L6-v2, else its built-in config.")
    var model: String?

    func validate() throws {
        try Check.integer("--batch", batch, in: 1...4096)
        try Check.integer("--seq", seq, in: 1...TrainingConfig.Limits.maxLength, hint: "at most the model's positions")
    }

    /// A two-class classifier with the config of `model` (default: the fetched
    /// all-MiniLM-L6-v2, else its built-in config) and random weights (throughput does not
    /// depend on their values), and `batch` examples of exactly `seq` random token ids drawn
    /// from `tokenSeed`.
    func classifier(tokenSeed: UInt64) throws -> (SequenceClassifier<Float>, TokenBatch) {
        let directory = model.map { URL(fileURLWithPath: $0) } ?? AssetLocator.defaultModel()
        let config = try directory.map { try EncoderConfig.load(directory: $0) } ?? .miniLM
        // The plain ranges were checked before MPI started (validate); the model's positions
        // are known only now.
        try Check.integer("--seq", seq, in: 1...config.maxSequenceLength, hint: "at most the model's positions")
        let classifier = SequenceClassifier<Float>(config: config, classes: 2)
        var rng = RandomGenerator(seed: 1)
        for i in 0..<classifier.parameters.count { classifier.parameters.values[i] = Float(0.02 * rng.nextGaussian()) }
        var tokenRng = RandomGenerator(seed: tokenSeed)
        let tokens = TokenBatch((0..<batch).map { _ in
            Encoding(ids: (0..<seq).map { _ in Int32(tokenRng.uniform(below: config.vocabularySize)) },
                     typeIds: [Int32](repeating: 0, count: seq))
        }, config: config)
        return (classifier, tokens)
    }
}
