import ArgumentParser
import Distributed
import Foundation
import Model

struct NTKCommand: RankCommand {
    static let configuration = CommandConfiguration(
        commandName: "ntk",
        abstract: "The empirical NTK and its two parts, computed across ranks and written by rank 0.",
        discussion: """
            Rank 0 writes into --out float64 .npy files, rows example-major (i·C + c):
              pte.npy, fte.npy, ntk.npy                 train × train, (N·C) × (N·C)
              pte_eval.npy, fte_eval.npy, ntk_eval.npy  eval × train, (M·C) × (N·C)
              kernel.json   row order, ids, labels, digests, plan, analysis, timings
            P = (φφᵀ + 1) ⊗ I_C,  F = G·Gᵀ with g_ic = ∂(V_c·φ(x_i))/∂θ,  NTK = P + F;
            θ = the backbone (head excluded), or the LoRA factors (lora, lp-lora).
            The word-embedding share is exact (sparse rows of each example's tokens)
            unless --embedding-sample F asks for the paper's sampled estimate.
            Partial sums are checkpointed in --out/checkpoint after every chunk; the
            same command after a kill resumes and writes identical matrices.
              lpft-mpi ntk --task sentiment-ood --eval-split test \\
                --head runs/lpft/lp_head.safetensors --out ntk/
              scripts/launch -np 2 lpft-mpi ntk --examples a.jsonl --method ft --out ntk/
            """)

    @OptionGroup var options: NTKOptions
    @OptionGroup var job: JobOptions

    func run(comm: Communicator) throws {
        var settings = try makeSettings()
        settings.outputDirectory = URL(fileURLWithPath: options.out)
        guard let report = try NTKJob.run(settings, comm: comm) else { return }
        if options.json {
            print(String(decoding: try report.encoded(), as: UTF8.self))
        } else {
            print(Self.table(report))
        }
        fflush(stdout)
    }

    /// The settings from the flags (every rank builds the same ones).
    func makeSettings() throws -> NTKSettings {
        let o = options
        let modelDirectory = try o.model.resolve()
        var train: [Example], eval: [Example] = [], probe: [Example]? = nil
        var classNames: [String]? = nil, description: String
        if let task = o.task {
            let data = try loadBuiltinTask(task)
            classNames = data.classNames
            let whole = try data.examples(ofSplit: o.split)
            train = NTKExamples.subset(whole, count: o.subset == 0 ? nil : o.subset, seed: o.subsetSeed)
            probe = data.train
            description = "task \(task.rawValue), split \(o.split): \(train.count) of \(whole.count) (seed \(o.subsetSeed))"
            if let evalSplit = o.evalSplit {
                let wholeEval = try data.examples(ofSplit: evalSplit)
                eval = NTKExamples.subset(wholeEval, count: o.evalSubset == 0 ? nil : o.evalSubset, seed: o.subsetSeed &+ 1)
                description += "; eval split \(evalSplit): \(eval.count) of \(wholeEval.count) (seed \(o.subsetSeed &+ 1))"
            }
        } else {
            let path = o.examples!
            train = try NTKExamples.read(URL(fileURLWithPath: path))
            description = "examples \(path)"
            if let evalExamples = o.evalExamples {
                eval = try NTKExamples.read(URL(fileURLWithPath: evalExamples))
                description += "; eval examples \(evalExamples)"
            }
        }
        let source: NTKHeadSource = o.head.map { .file(URL(fileURLWithPath: $0)) } ?? .method(o.method!)
        var settings = NTKSettings(modelDirectory: modelDirectory, train: train, head: source)
        settings.eval = eval
        settings.probeExamples = probe
        settings.classes = o.classes
        settings.classNames = classNames
        settings.dataDescription = description
        settings.parameterSet = o.parameters
        settings.lora = LoRAConfig(rank: o.loraR, alpha: o.loraAlpha)
        settings.seed = o.seed
        settings.memoryBudgetBytes = o.memoryBudgetBytes
        settings.embeddingSample = o.embeddingSample.map { WordEmbeddingSample(fraction: $0, seed: o.embeddingSampleSeed) }
        settings.maxLength = o.maxLength
        settings.precision = o.precision
        settings.stepSize = o.stepSize
        settings.chunkParameters = o.chunkParameters
        settings.slabWidth = o.slabWidth
        settings.gramSplit = o.gramSplit.split
        settings.drillKillAfterChunk = o.drillKillAfterChunk
        return settings
    }

    /// The analysis as a printed table.
    static func table(_ r: NTKReport) -> String {
        var lines: [String] = []
        let n = r.train.ids.count, m = r.eval?.ids.count ?? 0
        lines.append("eNTK: \(n) train × \(r.classes) classes\(m > 0 ? ", \(m) eval" : ""); \(r.parameters.set) parameters "
                     + "(\(r.parameters.denseCount) dense\(r.parameters.wordEmbeddingCount > 0 ? " + word embeddings \(r.parameters.wordEmbedding)" : ""))")
        lines.append("plan: \(r.plan.ranks) rank(s), \(r.plan.chunks) chunk(s), Gram split by \(r.plan.gramSplit), \(r.plan.precision), budget \(formatBytes(r.plan.memoryBudgetBytes))"
                     + (r.run.resumedFromChunk > 0 ? ", resumed at chunk \(r.run.resumedFromChunk)" : ""))
        lines.append("head: \(r.head.source), ‖V‖_F = \(String(format: "%.4g", r.head.weightNorm))")
        if let a = r.analysis {
            let widths = [28, 13, 13, 13]
            func f(_ x: Double?) -> String { x.map { String(format: "%.5g", $0) } ?? "-" }
            func pct(_ x: Double?) -> String { x.map { String(format: "%.1f%%", 100 * $0) } ?? "-" }
            lines.append(tableRow(["", "P (pte)", "F (fte)", "P+F (ntk)"], widths: widths))
            let kernels = [a.pte, a.fte, a.ntk]
            lines.append(tableRow(["Frobenius norm, train×train"] + kernels.map { f($0.frobeniusTrain) }, widths: widths))
            if m > 0 { lines.append(tableRow(["Frobenius norm, eval×train"] + kernels.map { f($0.frobeniusEval) }, widths: widths)) }
            lines.append(tableRow(["numerical rank"] + kernels.map { $0.spectrum.map { "\($0.rank)/\(n * r.classes)" } ?? "-" }, widths: widths))
            lines.append(tableRow(["rank tolerance (absolute)"] + kernels.map { f($0.spectrum?.tolerance) }, widths: widths))
            for i in 0..<3 {
                lines.append(tableRow(["eigenvalue \(i + 1)"] + kernels.map { f($0.spectrum?.topEigenvalues.dropFirst(i).first) }, widths: widths))
            }
            lines.append(tableRow(["kernel LR accuracy, train"] + kernels.map { pct($0.kernelRegression?.train) }, widths: widths))
            if m > 0 { lines.append(tableRow(["kernel LR accuracy, eval"] + kernels.map { pct($0.kernelRegression?.eval) }, widths: widths)) }
            lines.append("rank rule: \(a.rankRule)")
            lines.append(String(format: "FT ratio %.4f   train loss %.4f", a.ftRatio, a.trainLoss))
            let c = a.oneStep.comparison
            lines.append(String(format: "one step (η = %.4g): predicted vs observed logit change: cosine %.6f, relative error %.3g (‖pred‖ %.3g, ‖obs‖ %.3g)",
                                a.oneStep.stepSize, c.cosine, c.relativeError, c.predictedNorm, c.observedNorm))
        }
        let phases = r.run.timings.filter { $0.value > 0.0005 }.sorted { $0.value > $1.value }
            .map { "\($0.key) \(String(format: "%.2f", $0.value))" }
        lines.append(String(format: "time %.2f s (", r.run.totalSeconds) + phases.joined(separator: ", ") + ")")
        lines.append("peak memory per rank (MiB): " + r.run.peakRssMib.map { String(format: "%.0f", $0) }.joined(separator: ", ")
                     + "; Gram GFLOP/s per rank: " + r.run.gramGflops.map { String(format: "%.1f", $0) }.joined(separator: ", "))
        if !r.files.isEmpty { lines.append("wrote " + r.files.values.sorted().joined(separator: ", ") + ", kernel.json") }
        return lines.joined(separator: "\n")
    }
}
