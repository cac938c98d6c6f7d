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

    @Option(help: "Output folder.")
    var out: String
    @OptionGroup var model: ModelOptions
    @OptionGroup var job: JobOptions

    @Option(help: "Built-in task (\(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", "))).")
    var task: String?
    @Option(help: "Split of --task for the kernel's train examples: train, validation, test or an OOD set's name.")
    var split = "train"
    @Option(help: "At most this many random examples of --split (0 = all).")
    var subset = 250
    @Option(help: "Split of --task for eval examples (rows of the eval×train kernels); default: none.")
    var evalSplit: String?
    @Option(help: "At most this many random examples of --eval-split (0 = all).")
    var evalSubset = 250
    @Option(help: "Seed of the random subsets.")
    var subsetSeed: UInt64 = 0
    @Option(help: "JSON Lines train examples {\"text\", optional \"text_pair\", \"label\": class index} (instead of --task).")
    var examples: String?
    @Option(help: "JSON Lines eval examples (with --examples).")
    var evalExamples: String?
    @Option(help: "Number of classes when neither the head nor the task fixes it (default: largest label + 1).")
    var classes: Int?

    @Option(help: "Head: a safetensors file with weight [C, hidden] and bias [C].")
    var head: String?
    @Option(help: "Head as training starts FT: ft, lora (initial head from --seed), lp-ft, lp-lora (the LP head).")
    var method: String?
    @Option(help: "Seed of the initial head and LoRA factors (--method ft, lora; as `train --seed`).")
    var seed: UInt64 = 1001
    @Option(help: "Parameters θ of F: backbone or lora (default: from --method, else backbone).")
    var parameters: String?
    @Option(help: "LoRA rank (LoRA kernels).")
    var loraRank = 8
    @Option(help: "LoRA alpha (LoRA kernels).")
    var loraAlpha = 8.0

    @Option(help: "Memory per rank, e.g. 4GiB, 512MiB.")
    var memoryBudget = "4GiB"
    @Option(help: "Estimate the word-embedding share from this fraction of the table, as the paper (default: exact).")
    var embeddingSample: Double?
    @Option(help: "Seed of the sampled table entries.")
    var embeddingSampleSeed: UInt64 = 0
    @Option(help: "Tokens per example, special tokens included (default: 128, or the model's limit when smaller).")
    var maxLength: Int?
    @Option(help: "Scalar type of the Jacobian: float or double.")
    var precision = "float"
    @Option(help: "Learning rate η of the one-step check (default: the largest predicted logit change is 0.01).")
    var stepSize: Double?
    @Option(help: "Parameters per chunk (default: as many as the memory budget allows).")
    var chunkParameters: Int?
    @Option(help: "Parameters per slab, the inner dimension of each product (default 32768).")
    var slabWidth: Int?
    @Option(help: "How ranks share the Gram products: rows, slabs or auto (slabs for thin row blocks).")
    var gramSplit = "auto"
    @Flag(help: "Print kernel.json on stdout instead of the table.")
    var json = false
    /// Fault drill for the resume tests: rank 0 kills itself (SIGKILL) once chunk K's
    /// checkpoint is complete (K counts from 0), as a node failure would.
    @Option(help: .hidden)
    var drillKillAfterChunk: Int?

    func validate() throws {
        guard (task == nil) != (examples == nil) else { throw ValidationError("give exactly one of --task T or --examples FILE") }
        guard (head == nil) != (method == nil) else { throw ValidationError("give exactly one of --head FILE or --method M") }
        if let method, NTKMethod(rawValue: method) == nil {
            throw ValidationError("--method must be one of \(NTKMethod.allCases.map(\.rawValue).joined(separator: ", ")) (got \(method))")
        }
        if let parameters, NTKParameterSet(rawValue: parameters) == nil {
            throw ValidationError("--parameters must be backbone or lora (got \(parameters))")
        }
        guard gramSplit == "auto" || NTKGramSplit(rawValue: gramSplit) != nil else {
            throw ValidationError("--gram-split must be auto, rows or slabs (got \(gramSplit))")
        }
        guard NTKPrecision(rawValue: precision) != nil else { throw ValidationError("--precision must be float or double (got \(precision))") }
        guard parseByteCount(memoryBudget) != nil else {
            throw ValidationError("--memory-budget must be a size such as 4GiB, 512MiB or 2GB (got \(memoryBudget))")
        }
        if let f = embeddingSample, !(f > 0 && f <= 1) { throw ValidationError("--embedding-sample must be in (0, 1] (got \(f))") }
        if let stepSize, !(stepSize > 0 && stepSize.isFinite) { throw ValidationError("--step-size must be > 0") }
        if examples != nil && evalSplit != nil { throw ValidationError("--eval-split goes with --task; use --eval-examples with --examples") }
        if task != nil && evalExamples != nil { throw ValidationError("--eval-examples goes with --examples; use --eval-split with --task") }
        guard subset >= 0, evalSubset >= 0 else { throw ValidationError("--subset and --eval-subset must be ≥ 0") }
    }

    func run(comm: Communicator) throws {
        var settings = try makeSettings()
        settings.outputDirectory = URL(fileURLWithPath: out)
        guard let report = try NTKJob.run(settings, comm: comm) else { return }
        if json {
            print(String(decoding: try report.encoded(), as: UTF8.self))
        } else {
            print(Self.table(report))
        }
        fflush(stdout)
    }

    /// The settings from the flags (every rank builds the same ones).
    func makeSettings() throws -> NTKSettings {
        let modelDirectory = try model.resolve()
        var train: [Example], eval: [Example] = [], probe: [Example]? = nil
        var classNames: [String]? = nil, description: String
        if let task {
            guard let builtin = BuiltinTask(rawValue: task) else {
                throw ValidationError("unknown --task \(task); known: \(BuiltinTask.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            guard let root = AssetLocator.dataRoot() else {
                throw ValidationError("the built-in data sets are not set up; run: bash scripts/setup.sh")
            }
            let data = try TaskData.load(builtin, dataRoot: root)
            classNames = data.classNames
            let whole = try Self.split(split, of: data)
            train = NTKExamples.subset(whole, count: subset == 0 ? nil : subset, seed: subsetSeed)
            probe = data.train
            description = "task \(task), split \(split): \(train.count) of \(whole.count) (seed \(subsetSeed))"
            if let evalSplit {
                let wholeEval = try Self.split(evalSplit, of: data)
                eval = NTKExamples.subset(wholeEval, count: evalSubset == 0 ? nil : evalSubset, seed: subsetSeed &+ 1)
                description += "; eval split \(evalSplit): \(eval.count) of \(wholeEval.count) (seed \(subsetSeed &+ 1))"
            }
        } else {
            let path = examples!
            train = try NTKExamples.read(URL(fileURLWithPath: path))
            description = "examples \(path)"
            if let evalExamples {
                eval = try NTKExamples.read(URL(fileURLWithPath: evalExamples))
                description += "; eval examples \(evalExamples)"
            }
        }
        let source: NTKHeadSource = head.map { .file(URL(fileURLWithPath: $0)) } ?? .method(NTKMethod(rawValue: method!)!)
        var settings = NTKSettings(modelDirectory: modelDirectory, train: train, head: source)
        settings.eval = eval
        settings.probeExamples = probe
        settings.classes = classes
        settings.classNames = classNames
        settings.dataDescription = description
        settings.parameterSet = parameters.flatMap(NTKParameterSet.init(rawValue:))
        settings.lora = LoRAConfig(rank: loraRank, alpha: loraAlpha)
        settings.seed = seed
        settings.memoryBudgetBytes = parseByteCount(memoryBudget)!
        settings.embeddingSample = embeddingSample.map { WordEmbeddingSample(fraction: $0, seed: embeddingSampleSeed) }
        settings.maxLength = maxLength
        settings.precision = NTKPrecision(rawValue: precision)!
        settings.stepSize = stepSize
        settings.chunkParameters = chunkParameters
        settings.slabWidth = slabWidth
        settings.gramSplit = NTKGramSplit(rawValue: gramSplit)
        settings.drillKillAfterChunk = drillKillAfterChunk
        return settings
    }

    static func split(_ name: String, of data: TaskData) throws -> [Example] {
        switch name {
        case "train": return data.train
        case "validation": return data.validation
        case "test": return data.test
        default:
            if let ood = data.ood.first(where: { $0.name == name }) { return ood.examples }
            let known = ["train", "validation", "test"] + data.ood.map(\.name)
            throw ValidationError("unknown split \(name) of task \(data.name); known: \(known.joined(separator: ", "))")
        }
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
