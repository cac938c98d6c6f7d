import ArgumentParser
import Distributed
import Foundation
import Model

struct BenchNTK: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "ntk",
        abstract: "Wall time, Gram GFLOP/s and peak memory of the train×train eNTK vs plain sgemm.",
        discussion: """
            For each N: the full train×train kernel (P and F with exact word embeddings) of N \
            random train examples of --task on the real model, C classes, the initial head \
            (--method ft), no analysis and no files. seconds = the whole computation on rank 0 \
            (model load included); gram_gflops = each rank's product flops / its product seconds \
            (mean over ranks); sgemm_gflops = a plain 1536³ sgemm repeated for 3 s on every rank \
            at the same time (started by a barrier), same threads: the sustained rate under the \
            sharing the Gram products run under (mean over ranks); peak_rss_mib = the largest \
            rank's peak resident memory.
            """)

    @Option(help: "Comma-separated numbers of train examples.")
    var sizes = "64,250"
    @Option(parsing: .unconditional, help: "Classes C.")
    var classes = 2
    @Option(help: "Built-in task the examples come from.")
    var task: BuiltinTask = .sentimentOOD
    @OptionGroup var model: ModelOptions
    @OptionGroup var job: JobOptions
    @Option(help: "Memory per rank.")
    var memoryBudget = "4GiB"
    @Flag(help: "Print one JSON object {\"rows\": [...]}.")
    var json = false

    struct Row: Encodable {
        var n: Int, classes: Int, ranks: Int, chunks: Int
        var seconds: Double
        var gram_gflops: Double
        var sgemm_gflops: Double
        var peak_rss_mib: Double
    }
    struct Output: Encodable { var rows: [Row] }

    /// --sizes as numbers, or nil when any item is not a number of examples in 1…100000.
    var counts: [Int]? {
        let items = sizes.split(separator: ",", omittingEmptySubsequences: false).map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard items.allSatisfy({ $0.map { (1...100_000).contains($0) } ?? false }) else { return nil }
        return items.compactMap { $0 }
    }

    func validate() throws {
        guard counts != nil else {
            throw InvalidSetting("--sizes", value: sizes, expected: "comma-separated numbers of train examples, each in 1…100000", hint: "e.g. 64,250")
        }
        try Check.integer("--classes", classes, in: 2...1000)
        _ = try checkedByteCount("--memory-budget", memoryBudget)
    }

    func run(comm: Communicator) throws {
        let counts = counts!, budget = try checkedByteCount("--memory-budget", memoryBudget)
        let directory = try model.resolve()
        let data = try loadBuiltinTask(task)
        var rows: [Row] = []
        if !json { printRoot(comm, tableRow(["N", "C", "ranks", "chunks", "seconds", "gram_GF/s", "sgemm_GF/s", "ratio", "peak_MiB"], widths: Self.widths)) }
        for n in counts {
            var settings = NTKSettings(modelDirectory: directory,
                                       train: NTKExamples.subset(data.train, count: n, seed: 0).map {
                                           Example(id: $0.id, text: $0.text, textPair: $0.textPair, label: $0.label % classes)
                                       },
                                       head: .method(.ft))
            settings.classes = classes
            settings.memoryBudgetBytes = budget
            settings.analyze = false
            let report = try NTKJob.run(settings, comm: comm)
            // The baseline, sustained on every rank at once, as the Gram products ran.
            let sgemm = try comm.gatherv([BLAS.sustainedSgemmGFLOPS(seconds: 3) { try comm.barrier() }])
            guard comm.isRoot, let report, let sgemm else { continue }
            let gram = report.run.gramGflops.reduce(0, +) / Double(report.run.gramGflops.count)
            let row = Row(n: n, classes: classes, ranks: comm.size, chunks: report.plan.chunks, seconds: report.run.totalSeconds,
                          gram_gflops: gram, sgemm_gflops: sgemm.reduce(0, +) / Double(sgemm.count),
                          peak_rss_mib: report.run.peakRssMib.max() ?? 0)
            rows.append(row)
            if !json {
                print(tableRow([String(n), String(classes), String(row.ranks), String(row.chunks), String(format: "%.1f", row.seconds),
                                String(format: "%.1f", row.gram_gflops), String(format: "%.1f", row.sgemm_gflops),
                                String(format: "%.2f", row.gram_gflops / row.sgemm_gflops), String(format: "%.0f", row.peak_rss_mib)],
                               widths: Self.widths))
                fflush(stdout)
            }
        }
        if json && comm.isRoot { try printJSON(Output(rows: rows)) }
    }

    static let widths = [6, 3, 6, 7, 9, 10, 11, 6, 9]
}

struct BenchAnalysis: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "analysis",
        abstract: "The eNTK analysis's kernel regressions: folds shared by the ranks vs rank 0 alone.",
        discussion: """
            Reads the kernels an `lpft-mpi ntk --out DIR` run wrote (pte.npy, fte.npy, their \
            _eval files, and the labels in kernel.json) and fits the analysis's three kernel \
            logistic regressions (P, F and P + F; 5 folds × 10 strengths and a refit each) \
            twice: with the folds dealt over the ranks, as `ntk` runs them, and on rank 0 alone \
            while the other ranks wait (the baseline: how `ntk` ran them before). Prints the \
            seconds of each (the slowest rank), their ratio, and whether both give the same \
            results and the accuracies kernel.json holds.
              scripts/launch -np 2 -- lpft-mpi bench analysis --kernel OUT
            """)

    @Option(help: "Folder written by `lpft-mpi ntk --out` (with its analysis).")
    var kernel: String
    @OptionGroup var job: JobOptions
    @Flag(help: "Print one JSON object.")
    var json = false

    struct Output: Encodable {
        var ranks: Int, train_rows: Int
        var shared_seconds: Double, rank0_seconds: Double, speedup: Double
        /// The shared and the rank-0 fits give identical results.
        var same_results: Bool
        /// Both equal the accuracies, strengths and scales kernel.json holds.
        var matches_kernel_json: Bool
        /// Kernel logistic-regression accuracy on the eval rows (P, F, P + F).
        var eval_accuracy: [String: Double]
    }

    /// kernel.json's labels and analysis (JSONDecoder: exact doubles).
    struct Written: Decodable {
        struct Labels: Decodable { var labels: [Int] }
        struct Kernel: Decodable { var kernelRegression: KernelAnalysis.KernelAccuracy? }
        struct Analysis: Decodable { var pte, fte, ntk: Kernel }
        var classes: Int
        var train: Labels
        var eval: Labels?
        var analysis: Analysis?
    }

    func run(comm: Communicator) throws {
        let folder = URL(fileURLWithPath: kernel)
        let file = folder.appendingPathComponent("kernel.json")
        guard let data = FileManager.default.contents(atPath: file.path) else {
            throw ValidationError("--kernel: cannot read \(file.path); give the folder of an `lpft-mpi ntk --out` run")
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let written: Written
        do { written = try decoder.decode(Written.self, from: data) } catch {
            throw ValidationError("--kernel: \(file.path) is not the kernel.json of an `lpft-mpi ntk` run (\(describe(error)))")
        }
        let labels = written.train.labels, evalLabels = written.eval?.labels ?? [], C = written.classes
        guard C >= 2, labels.allSatisfy({ (0..<C).contains($0) }), evalLabels.allSatisfy({ (0..<C).contains($0) }) else {
            throw ValidationError("--kernel: \(file.path) has labels outside 0…\(C - 1) or fewer than 2 classes")
        }
        // Rank 0 reads the matrices (the others receive the train kernels inside the fits).
        var matrices: NTKMatrices? = nil
        if comm.isRoot {
            let rows = labels.count * C, evalRows = evalLabels.count * C
            func matrix(_ name: String, _ expectedRows: Int) throws -> [Double] {
                let url = folder.appendingPathComponent(name + ".npy")
                let (shape, values) = try NumpyFile.read(url)
                guard shape == [expectedRows, rows] else {
                    throw ValidationError("--kernel: \(url.path) has shape \(shape), kernel.json's examples need [\(expectedRows), \(rows)]; the folder mixes two runs")
                }
                return values
            }
            matrices = NTKMatrices(pteTrain: try matrix("pte", rows), fteTrain: try matrix("fte", rows),
                                   pteEval: evalRows > 0 ? try matrix("pte_eval", evalRows) : [],
                                   fteEval: evalRows > 0 ? try matrix("fte_eval", evalRows) : [])
        }

        try comm.barrier()
        var start = comm.wallTime()
        let shared = try NTKJob.kernelRegressions(matrices, labels: labels, evalLabels: evalLabels, classes: C, comm: comm)
        let sharedSeconds = try comm.allreduceMax(comm.wallTime() - start)

        try comm.barrier()
        start = comm.wallTime()
        var alone: [Result<KernelAnalysis.KernelAccuracy, Error>]? = nil
        if let m = matrices {
            alone = [(m.pteTrain, m.pteEval), (m.fteTrain, m.fteEval), (m.ntkTrain, m.ntkEval)].map { train, eval in
                Result { try KernelAnalysis.kernelRegressionAccuracy(train: train, labels: labels, classes: C,
                                                                     eval: evalLabels.isEmpty ? nil : eval,
                                                                     evalLabels: evalLabels.isEmpty ? nil : evalLabels) }
            }
        }
        // The other ranks wait for rank 0's fits: that is the baseline, not a stall.
        try comm.withStallTimeout(nil) { try comm.barrier() }
        let aloneSeconds = try comm.allreduceMax(comm.wallTime() - start)

        guard comm.isRoot, let shared, let alone else { return }
        let sharedValues = shared.map { try? $0.get() }, aloneValues = alone.map { try? $0.get() }
        /// The fields kernel.json keeps, as bits (NaN for a missing eval compares equal).
        func bits(_ a: KernelAnalysis.KernelAccuracy?) -> [UInt64]? {
            a.map { [$0.train, $0.eval ?? .nan, $0.strength, $0.scale].map(\.bitPattern) }
        }
        let kept = written.analysis.map { [$0.pte, $0.fte, $0.ntk].map(\.kernelRegression) }
        let output = Output(
            ranks: comm.size, train_rows: labels.count * C,
            shared_seconds: sharedSeconds, rank0_seconds: aloneSeconds, speedup: aloneSeconds / sharedSeconds,
            same_results: sharedValues == aloneValues,
            matches_kernel_json: kept.map { zip($0, sharedValues).allSatisfy { bits($0) == bits($1) } } ?? false,
            eval_accuracy: Dictionary(uniqueKeysWithValues: zip(["P", "F", "P+F"], sharedValues).compactMap { name, value in
                value?.eval.map { (name, $0) }
            }))
        if json {
            try printJSON(output)
        } else {
            print(alignedRows([["ranks", "rows", "shared_s", "rank0_s", "speedup", "same", "kernel.json"],
                               [String(output.ranks), String(output.train_rows), String(format: "%.1f", output.shared_seconds),
                                String(format: "%.1f", output.rank0_seconds), String(format: "%.2f", output.speedup),
                                output.same_results ? "yes" : "NO", output.matches_kernel_json ? "yes" : "NO"]]).joined(separator: "\n"))
        }
    }
}
