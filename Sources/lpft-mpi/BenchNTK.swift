import ArgumentParser
import Distributed
import Foundation
import Model

struct BenchNTK: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "ntk",
        abstract: "Wall time, Gram GFLOP/s and peak memory of the train×train eNTK vs plain sgemm.",
        discussion: """
            For each N: the full train×train kernel (P and F with exact word embeddings) of N
            random train examples of --task on the real model, C classes, the initial head
            (--method ft), no analysis and no files. seconds = the whole computation on rank 0
            (model load included); gram_gflops = each rank's product flops / its product seconds
            (mean over ranks); sgemm_gflops = a plain 1536³ sgemm repeated for 3 s on every rank
            at the same time (started by a barrier), same threads: the sustained rate under the
            sharing the Gram products run under (mean over ranks); peak_rss_mib = the largest
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

    func run(comm: Communicator) throws {
        let counts = sizes.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !counts.isEmpty, counts.allSatisfy({ (1...100_000).contains($0) }), (2...1000).contains(classes) else {
            throw ValidationError("--sizes must list numbers in 1…100000 and --classes must be in 2…1000")
        }
        guard let budget = parseByteCount(memoryBudget) else { throw ValidationError("--memory-budget must be a size such as 4GiB") }
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
