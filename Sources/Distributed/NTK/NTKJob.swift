import Foundation
import Model

/// The distributed empirical NTK of a classifier f(x) = V·φ(x) + b (../shared/design/ARCHITECTURE.md):
///   P = (φφᵀ + 1) ⊗ I_C (the head's own gradient),  F = G·Gᵀ with g_ic = ∂(V_c·φ(x_i))/∂θ,
///   NTK = P + F, rows example-major (row i·C + c).
/// θ = every backbone parameter (head excluded), or the LoRA factors only. The word table's
/// share of F is exact through the sparse rows of each example's tokens (or the paper's
/// sampled estimate). Each rank computes the Jacobian rows of a contiguous block of examples
/// for one parameter chunk at a time and forms its tiles (`NTKPlan.tileLayout(of:)`); rank 0
/// adds every chunk's tiles into float64 sums (gathered, or reduced when split by slabs),
/// checkpoints the sums, and finally writes the matrices and kernel.json with the analysis.
public enum NTKJob {
    /// Runs on every rank of `comm` with the same settings. Rank 0 returns the report (and,
    /// with an output folder, writes pte.npy, fte.npy, ntk.npy, the *_eval files and
    /// kernel.json); other ranks return nil.
    public static func run(_ settings: NTKSettings, comm: Communicator) throws -> NTKReport? {
        switch settings.precision {
        case .float: return try NTKRun<Float>(settings: settings, comm: comm).execute()
        case .double: return try NTKRun<Double>(settings: settings, comm: comm).execute()
        }
    }
}

extension NTKJob {
    /// The kernel regressions of P, F and P + F (`KernelRegression`): their cross-validation
    /// folds are independent and hold nearly all the work, so fold f of kernel k runs on rank
    /// (k·folds + f) mod P; rank 0 gathers each kernel's fold fits, refits on all rows and
    /// measures the accuracies. A kernel at a time, so that a rank holds one scaled copy. Every
    /// rank calls this (rank 0 with the matrices); rank 0 returns the three outcomes, in the
    /// order P, F, P + F.
    public static func kernelRegressions(_ m: NTKMatrices?, labels: [Int], evalLabels: [Int], classes C: Int,
                                         comm: Communicator) throws -> [Result<KernelAnalysis.KernelAccuracy, Error>]? {
        let pte = comm.size > 1 ? try comm.broadcast(m?.pteTrain ?? []) : m?.pteTrain ?? []
        let fte = comm.size > 1 ? try comm.broadcast(m?.fteTrain ?? []) : m?.fteTrain ?? []
        let folds = LogisticRegressionCV().folds
        var outcomes: [Result<KernelAnalysis.KernelAccuracy, Error>] = []
        for k in 0..<3 {
            func owner(_ fold: Int) -> Int { (k * folds + fold) % comm.size }
            let mine = (0..<folds).filter { owner($0) == comm.rank }
            var regression: Result<KernelRegression, Error>? = nil
            var local: [Double] = []
            if comm.isRoot || !mine.isEmpty {
                // P + F as NTKMatrices forms it on rank 0, so every rank fits the same numbers.
                let train = k == 0 ? pte : k == 1 ? fte : (m?.ntkTrain ?? zip(pte, fte).map(+))
                regression = Result { try KernelRegression(train: train, labels: labels, classes: C) }
                // A kernel the regression refuses is refused on every rank alike: no fold is sent.
                if case .success(let r) = regression { for fold in mine { local += r.fitFold(fold).flattened() } }
            }
            // Rank 0 may be a fold and a refit behind the others: waiting for it is work, not a stall.
            let gathered = try comm.withStallTimeout(nil) { try comm.gatherv(local) }
            guard comm.isRoot, let gathered, let regression, let m else { continue }
            outcomes.append(Result {
                let r = try regression.get()
                // Rank by rank, each rank's folds in fold order.
                var fits = [FoldFit?](repeating: nil, count: folds)
                var offset = 0
                for rank in 0..<comm.size {
                    for fold in 0..<folds where owner(fold) == rank {
                        fits[fold] = r.foldFit(flattened: gathered[offset..<(offset + r.foldFitCount)])
                        offset += r.foldFitCount
                    }
                }
                let eval = [m.pteEval, m.fteEval, m.ntkEval][k]
                return try r.finish(fits.map { $0! }, eval: evalLabels.isEmpty ? nil : eval,
                                    evalLabels: evalLabels.isEmpty ? nil : evalLabels)
            })
        }
        return comm.isRoot ? outcomes : nil
    }
}

/// One eNTK computation in scalar type T.
final class NTKRun<T: ModelScalar & MPIReducible> {
    let settings: NTKSettings
    let comm: Communicator
    var timings = NTKTimings()

    init(settings: NTKSettings, comm: Communicator) {
        self.settings = settings
        self.comm = comm
    }

    /// What every rank has loaded and checked before the plan.
    struct Setup {
        var config: EncoderConfig
        var maxLength: Int
        var model: SequenceClassifier<T>
        var head: LinearHead
        var headSource: String
        var classes: Int
        var parameterSet: NTKParameterSet
        /// The dense Jacobian's arena range: the backbone after the word table, or the LoRA factors.
        var parameterRange: Range<Int>
        var modelDigest: ParameterDigest, headDigest: ParameterDigest, exampleDigest: ParameterDigest
    }

    func execute() throws -> NTKReport? {
        let startTime = ProcessStats.now()
        comm.stallContext = "ntk: set-up"
        let setup = try prepare()
        let plan = try makePlan(setup)
        let engine = try makeEngine(setup, plan)
        let (sums, firstChunk) = try computeChunks(setup, plan, engine)
        let N = settings.train.count, M = settings.eval.count, C = setup.classes
        let matrices = sums.map { NTKMatrices(sums: $0, trainCount: N, evalCount: M, classes: C, hidden: setup.config.hidden) }

        var step: (before: [Double], after: [Double], stepSize: Double)? = nil
        if settings.analyze {
            comm.stallContext = "ntk: one-step check"
            let labels = settings.train.map(\.label)
            step = try timings.time("one_step") {
                try oneStep(model: setup.model, plan: plan, batches: engine.trainBatches, labels: labels,
                            parameterSet: setup.parameterSet) { before in
                    // η so that the largest predicted logit change is 0.01 (unless given).
                    let delta = KernelAnalysis.residuals(logits: before, labels: labels, classes: C)
                    let unit = KernelAnalysis.apply(matrices!.ntkTrain, rows: N * C, columns: N * C, delta).map { $0 / Double(N) }
                    let largest = unit.map(abs).max() ?? 0
                    return settings.stepSize ?? (largest > 0 ? 0.01 / largest : 1)
                }
            }
        }

        // The analysis: every rank fits some of the kernel regressions' folds; rank 0 the rest.
        var analysis: NTKReport.Analysis? = nil
        if settings.analyze {
            comm.stallContext = "ntk: analysis"
            analysis = try timings.time("analysis") {
                let labels = settings.train.map(\.label), evalLabels = settings.eval.map(\.label)
                let regressions = try NTKJob.kernelRegressions(matrices, labels: labels, evalLabels: evalLabels, classes: C, comm: comm)
                guard let matrices, let step, let regressions else { return nil }
                return Self.analyze(matrices, step: step, regressions: regressions, labels: labels,
                                    hasEval: !evalLabels.isEmpty, classes: C, epsilon: Double(T.ulpOfOne))
            }
        }

        // Every rank's timings, memory and speed; gathered before rank 0's writing so that no
        // rank waits on it (the other ranks are done).
        comm.stallContext = "ntk: statistics"
        var mine = timings
        for (i, s) in engine.timings.seconds.enumerated() { mine.seconds[i] += s }
        let stats = try comm.gather(NTKRankStatistics(
            timings: mine.byPhase, peakResidentMiB: ProcessStats.peakResidentMiB(),
            gramGflops: engine.gram.seconds > 0 ? engine.gram.flops / engine.gram.seconds / 1e9 : 0, gramFlops: engine.gram.flops))
        guard comm.isRoot, let stats, let matrices else { return nil }

        var files: [String: String] = [:]
        if let out = settings.outputDirectory {
            files = try timings.time("write") { try Self.write(matrices, trainRows: N * C, evalRows: M * C, to: out) }
        }
        var report = makeReport(setup, plan, analysis: analysis, files: files)
        // Rank 0's writing happened after the gather: take its own value.
        var byRank = stats.map(\.timings)
        byRank[0]["write"] = timings.byPhase["write"]
        let slowest = Dictionary(uniqueKeysWithValues: NTKTimings.phases.map { phase in
            (phase, byRank.map { $0[phase]! }.max() ?? 0)
        })
        report.run = NTKReport.RunInfo(timings: slowest, timingsByRank: byRank, totalSeconds: ProcessStats.now() - startTime,
                                       peakRssMib: stats.map(\.peakResidentMiB), gramGflops: stats.map(\.gramGflops),
                                       gramFlops: stats.map(\.gramFlops).reduce(0, +), resumedFromChunk: firstChunk)
        if let out = settings.outputDirectory {
            let url = out.appendingPathComponent("kernel.json")
            try FileOperations.writeAtomically(report.encoded(), to: url)
            NTKCheckpointStore(directory: out.appendingPathComponent("checkpoint")).remove()
        }
        return report
    }

    // MARK: Phases

    /// Loads the model and head, checks labels and settings, and checks that every rank sees
    /// the same model, head and examples.
    func prepare() throws -> Setup {
        let directory = settings.modelDirectory
        let files = try ModelDirectory(directory)
        let config = files.config
        let maxLength = settings.maxLength ?? files.config.defaultMaxLength
        try files.checkInputs(maxLength: maxLength, hasPairs: (settings.train + settings.eval).contains { $0.textPair != nil })
        guard !settings.train.isEmpty else { throw NTKError.invalidSetting("no train examples were given") }

        // The head (V, b), the classes C, the parameter set.
        var givenHead: LinearHead? = nil
        var method: NTKMethod? = nil
        let headSource: String
        switch settings.head {
        case .weights(let head): givenHead = head; headSource = "given in code"
        case .file(let url): givenHead = try LinearHead(safetensors: url, hidden: config.hidden); headSource = "file \(url.path)"
        case .method(let m): method = m; headSource = "method \(m.rawValue), seed \(settings.seed)"
        }
        let allExamples = settings.train + settings.eval
        let classes = givenHead?.classes ?? settings.classes ?? settings.classNames?.count
            ?? ((allExamples.map(\.label).max() ?? 0) + 1)
        if let head = givenHead {
            guard head.dimension == config.hidden else {
                throw NTKError.headFile(headSource, "the head has dimension \(head.dimension) but the model's hidden size is \(config.hidden)")
            }
            if let expected = settings.classes ?? settings.classNames?.count, expected != head.classes {
                throw NTKError.invalidSetting("the head has \(head.classes) classes but the data has \(expected)")
            }
        }
        guard classes >= 2 else {
            throw NTKError.invalidSetting("the kernel needs at least 2 classes (got \(classes)); give a head file with C ≥ 2 rows, or --classes")
        }
        for example in allExamples where example.label < 0 || example.label >= classes {
            throw NTKError.label(exampleId: example.id, label: example.label, classes: classes)
        }
        // The analysis (FT ratio, kernel regression, one-step check) compares classes: examples of
        // a single class give NaN statistics, not a kernel worth writing.
        let present = Set(settings.train.map(\.label))
        guard present.count >= 2 || !settings.analyze else {
            throw NTKError.invalidSetting("all \(settings.train.count) train examples of the kernel have label \(present.first ?? 0); "
                                          + "the analysis needs examples of at least 2 classes: use a larger --subset, another --subset-seed or split, or examples of several classes")
        }
        let parameterSet = settings.parameterSet ?? method?.parameterSet ?? .backbone
        if parameterSet == .lora {
            guard settings.lora.rank >= 1, !settings.lora.targets.isEmpty else {
                throw NTKError.invalidSetting("LoRA kernels need a LoRA rank ≥ 1 and at least one target")
            }
        }
        let model: SequenceClassifier<T> = try files.classifier(classes: classes, lora: parameterSet == .lora ? settings.lora : nil,
                                                                seed: settings.seed)
        if let values = settings.parameterValues {
            guard values.count == model.parameters.count else {
                throw NTKError.invalidSetting("the given parameters (\(values.count)) do not fit this model's layout (\(model.parameters.count))")
            }
            for i in values.indices { model.parameters.values[i] = T(values[i]) }
        }
        if let method, method.usesLinearProbe {
            let head = try linearProbeHead(for: NTKLinearProbeRequest(
                comm: comm, method: method, modelDirectory: directory, probeExamples: settings.probeExamples ?? settings.train,
                classes: classes, maxLength: maxLength, seed: settings.seed))
            guard head.classes == classes, head.dimension == config.hidden else {
                throw NTKError.invalidSetting("the linear probe returned a \(head.classes)×\(head.dimension) head; expected \(classes)×\(config.hidden)")
            }
            givenHead = head
        }
        if let head = givenHead {
            let weight = model.parameters.value("classifier.weight"), bias = model.parameters.value("classifier.bias")
            for i in 0..<(classes * config.hidden) { weight[i] = T(head.weight[i]) }
            for c in 0..<classes { bias[c] = T(head.bias[c]) }
        }
        let head = Self.head(of: model)
        model.trainHead = false
        model.trainBackbone = parameterSet == .backbone
        model.trainLoRA = parameterSet == .lora

        let modelDigest = Self.modelDigest(model)
        var headDigest = ParameterDigest()
        headDigest.update(head.weight)
        headDigest.update(head.bias)
        var exampleDigest = ParameterDigest()
        for e in allExamples {
            Array("\(e.id)\u{1}\(e.text)\u{1}\(e.textPair ?? "")\u{1}\(e.label)\u{2}".utf8).withUnsafeBytes { exampleDigest.update($0) }
        }
        let local = [modelDigest.value, headDigest.value, exampleDigest.value].map { Int64(bitPattern: $0) }
        let all = try comm.allgatherv(local)
        for r in 0..<comm.size where Array(all[(3 * r)..<(3 * r + 3)]) != Array(all[0..<3]) {
            throw NTKError.mismatchAcrossRanks("the model, head or example digests (rank \(r) differs from rank 0)")
        }
        // The dense backbone: everything after the word table (the first tensor of every family).
        let parameterRange = parameterSet == .backbone
            ? (model.wordEmbeddingTable.range.upperBound..<model.parameters.range(of: [.backbone]).upperBound)
            : model.parameters.range(of: [.lora])
        return Setup(config: config, maxLength: maxLength, model: model, head: head, headSource: headSource, classes: classes,
                     parameterSet: parameterSet, parameterRange: parameterRange, modelDigest: modelDigest,
                     headDigest: headDigest, exampleDigest: exampleDigest)
    }

    /// The plan: what besides the Jacobian slabs a rank holds is estimated from the sizes
    /// (parameter and gradient arenas, rank 0's kernel matrices, tile sums, saved boundary
    /// gradients, 256 MiB for everything else); the slabs get the rest of the budget.
    func makePlan(_ setup: Setup) throws -> NTKPlan {
        let N = settings.train.count, M = settings.eval.count, C = setup.classes, H = setup.config.hidden
        let scalarBytes = MemoryLayout<T>.size
        let ownRowsMax = ((N + comm.size - 1) / comm.size + (M + comm.size - 1) / comm.size) * C
        let kernelBytes = 8 * (N * C * N * C + M * C * N * C)
        let fixedBytes = 2 * scalarBytes * setup.model.parameters.count + 8 * kernelBytes + 8 * ownRowsMax * N * C
            + scalarBytes * ownRowsMax * setup.maxLength * H + (256 << 20)
        return try NTKPlan.make(worldSize: comm.size, classes: C, trainCount: N, evalCount: M,
                                parameters: setup.parameterRange, parameterSet: setup.parameterSet, scalarBytes: scalarBytes,
                                memoryBudgetBytes: settings.memoryBudgetBytes, fixedBytes: fixedBytes,
                                threads: Parallel.threads, chunkParameters: settings.chunkParameters,
                                slabWidth: settings.slabWidth, gramSplit: settings.gramSplit)
    }

    /// The engine of this rank with its examples tokenised.
    func makeEngine(_ setup: Setup, _ plan: NTKPlan) throws -> NTKEngine<T> {
        let tokenizer = try ModelDirectory(settings.modelDirectory).tokenizer
        func encode(_ examples: ArraySlice<Example>) throws -> [Encoding] {
            try examples.map { e in
                let encoding = tokenizer.encode(e.text, pair: e.textPair, maxLength: setup.maxLength)
                do {
                    try TokenBatch([encoding], config: setup.config).validate(setup.config)
                } catch {
                    throw NTKError.invalidSetting("example \(e.id): \(describe(error))")
                }
                return encoding
            }
        }
        return NTKEngine<T>(comm: comm, model: setup.model, plan: plan,
                            train: try encode(settings.train[plan.trainExamples(of: comm.rank)]),
                            eval: try encode(settings.eval[plan.evalExamples(of: comm.rank)]))
    }

    /// Resumes from a checkpoint when one exists, then computes the remaining chunks. Rank 0
    /// returns the finished sums (nil elsewhere) and every rank the first chunk computed here.
    func computeChunks(_ setup: Setup, _ plan: NTKPlan, _ engine: NTKEngine<T>) throws -> (NTKPartialSums?, Int) {
        let trainRows = plan.trainCount * plan.classes, evalRows = plan.evalCount * plan.classes
        let H = setup.config.hidden
        let digest = try Self.planDigest(plan: plan, model: setup.modelDigest, head: setup.headDigest,
                                         examples: setup.exampleDigest, maxLength: setup.maxLength, settings: settings).hex
        let store = settings.outputDirectory.map { NTKCheckpointStore(directory: $0.appendingPathComponent("checkpoint")) }
        var sums: NTKPartialSums? = nil
        if comm.isRoot {
            sums = try store?.load(planDigest: digest, trainRows: trainRows, evalRows: evalRows,
                                   trainCount: plan.trainCount, evalCount: plan.evalCount, hidden: H)
                ?? NTKPartialSums(chunksDone: 0, trainTrain: [Double](repeating: 0, count: trainRows * trainRows),
                                  evalTrain: [Double](repeating: 0, count: evalRows * trainRows),
                                  trainFeatures: [], evalFeatures: [])
        }
        let firstChunk = Int(try comm.broadcast([Int64(sums?.chunksDone ?? 0)])[0])
        for k in firstChunk..<plan.chunkCount {
            comm.stallContext = "ntk: chunk \(k + 1) of \(plan.chunkCount)"
            var result = try engine.run(chunk: k)
            if k == firstChunk {
                let trainFeatures = try comm.gatherv(engine.trainFeatures)
                let evalFeatures = try comm.gatherv(engine.evalFeatures)
                if comm.isRoot { sums!.trainFeatures = trainFeatures!; sums!.evalFeatures = evalFeatures! }
            }
            try timings.time("gather") { try collect(&result.tiles, plan: plan, into: &sums) }
            guard comm.isRoot else { continue }
            if let words = result.trainWords {
                timings.time("word_embeddings") {
                    var trainTrain = sums!.trainTrain, evalTrain = sums!.evalTrain
                    sums!.trainTrain = []
                    sums!.evalTrain = []
                    trainTrain.withUnsafeMutableBufferPointer { tt in
                        evalTrain.withUnsafeMutableBufferPointer { et in
                            WordEmbeddingKernel.accumulate(train: words, eval: result.evalWords, trainRows: trainRows,
                                                           trainGram: tt.baseAddress!, cross: evalRows > 0 ? et.baseAddress! : nil,
                                                           sample: settings.embeddingSample)
                        }
                    }
                    sums!.trainTrain = trainTrain
                    sums!.evalTrain = evalTrain
                }
            }
            sums!.chunksDone = k + 1
            if let store {
                try timings.time("checkpoint") {
                    try store.save(sums!, planDigest: digest, trainRows: trainRows, evalRows: evalRows, hidden: H)
                }
                if settings.drillKillAfterChunk == k { kill(getpid(), SIGKILL) }
            }
        }
        return (sums, firstChunk)
    }

    /// Writes pte.npy, fte.npy, ntk.npy and, with eval rows, the *_eval files; returns their names.
    static func write(_ matrices: NTKMatrices, trainRows: Int, evalRows: Int, to out: URL) throws -> [String: String] {
        try FileOperations.createDirectory(out)
        var outputs = [("pte", matrices.pteTrain, [trainRows, trainRows]), ("fte", matrices.fteTrain, [trainRows, trainRows]),
                       ("ntk", matrices.ntkTrain, [trainRows, trainRows])]
        if evalRows > 0 {
            outputs += [("pte_eval", matrices.pteEval, [evalRows, trainRows]), ("fte_eval", matrices.fteEval, [evalRows, trainRows]),
                        ("ntk_eval", matrices.ntkEval, [evalRows, trainRows])]
        }
        var files: [String: String] = [:]
        for (name, values, shape) in outputs {
            try NumpyFile.write(values, shape: shape, to: out.appendingPathComponent(name + ".npy"))
            files[name] = name + ".npy"
        }
        return files
    }

    /// kernel.json's content (its `run` part is filled in by the caller).
    func makeReport(_ setup: Setup, _ plan: NTKPlan, analysis: NTKReport.Analysis?, files: [String: String]) -> NTKReport {
        let config = setup.config
        return NTKReport(
            classes: setup.classes, classNames: settings.classNames, data: settings.dataDescription,
            train: .init(ids: settings.train.map(\.id), labels: settings.train.map(\.label)),
            eval: settings.eval.isEmpty ? nil : .init(ids: settings.eval.map(\.id), labels: settings.eval.map(\.label)),
            files: files,
            parameters: .init(set: setup.parameterSet.rawValue, denseCount: setup.parameterRange.count,
                              wordEmbeddingCount: setup.parameterSet == .backbone ? setup.model.wordEmbeddingTable.range.count : 0,
                              wordEmbedding: setup.parameterSet == .lora ? "not differentiated (LoRA factors only)"
                                  : settings.embeddingSample.map { "sampled: fraction \($0.fraction), seed \($0.seed), scaled by 1/fraction" }
                                  ?? "exact (sparse rows of each example's tokens)"),
            model: .init(directory: settings.modelDirectory.path, digest: setup.modelDigest.hex, family: config.family.rawValue,
                         layers: config.layers, hidden: config.hidden),
            head: .init(source: setup.headSource, digest: setup.headDigest.hex, weightNorm: setup.head.weightNorm),
            plan: .init(ranks: comm.size, chunks: plan.chunkCount, chunkParameters: (0..<plan.chunkCount).map { plan.chunk($0).count },
                        slabWidth: plan.slabWidth, gramSplit: plan.gramSplit.rawValue, memoryBudgetBytes: plan.memoryBudgetBytes,
                        precision: settings.precision.rawValue, maxLength: setup.maxLength),
            analysis: analysis,
            run: .init(timings: [:], timingsByRank: [], totalSeconds: 0, peakRssMib: [], gramGflops: [], gramFlops: 0, resumedFromChunk: 0))
    }

    // MARK: Pieces

    /// The model's head as float64.
    static func head(of model: SequenceClassifier<T>) -> LinearHead {
        let C = model.classes, H = model.config.hidden
        let weight = model.parameters.value("classifier.weight"), bias = model.parameters.value("classifier.bias")
        return LinearHead(classes: C, dimension: H, weight: (0..<(C * H)).map { Double(weight[$0]) },
                          bias: (0..<C).map { Double(bias[$0]) })
    }

    /// Digest of the backbone and LoRA values as float32 bytes (the same for both precisions).
    static func modelDigest(_ model: SequenceClassifier<T>) -> ParameterDigest {
        var hash = ParameterDigest()
        var buffer = [Float](repeating: 0, count: 1 << 16)
        let values = model.parameters.values.baseAddress!
        for range in [model.parameters.range(of: [.backbone]), model.parameters.range(of: [.lora])] {
            var start = range.lowerBound
            while start < range.upperBound {
                let count = min(buffer.count, range.upperBound - start)
                for i in 0..<count { buffer[i] = Float(values[start + i]) }
                buffer.withUnsafeBytes { hash.update(UnsafeRawBufferPointer(rebasing: $0[0..<(count * 4)])) }
                start += count
            }
        }
        return hash
    }

    /// Digest of everything the partial sums depend on (a checkpoint is reused only when equal).
    static func planDigest(plan: NTKPlan, model: ParameterDigest, head: ParameterDigest, examples: ParameterDigest, maxLength: Int,
                           settings: NTKSettings) throws -> ParameterDigest {
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        let data = try encoder.encode(NTKIdentity(plan: plan, model: model.hex, head: head.hex, examples: examples.hex,
                                               maxLength: maxLength, sample: settings.embeddingSample,
                                               precision: settings.precision.rawValue, lora: settings.lora,
                                               train: settings.train.count, eval: settings.eval.count))
        var hash = ParameterDigest()
        data.withUnsafeBytes { hash.update($0) }
        return hash
    }

    /// Adds every rank's tiles of one chunk into rank 0's running sums (`sums`, nil elsewhere).
    /// Split by rows: the tiles are gathered and added rank by rank, each as its
    /// `plan.tileLayout(of:)` places it. Split by slabs: every rank's tiles are the whole
    /// matrices, laid out as the sums themselves; rank 0 adds its own, then the other ranks'
    /// are summed into its sums by one reduce (no rank-0 copy per rank).
    func collect(_ tiles: inout [Double], plan: NTKPlan, into sums: inout NTKPartialSums?) throws {
        switch plan.gramSplit {
        case .rows:
            let all = try comm.gatherv(tiles)
            guard let all else { return }
            var offset = 0
            for rank in 0..<plan.worldSize {
                let layout = plan.tileLayout(of: rank)
                guard offset + layout.count <= all.count else {
                    throw NTKError.mismatchAcrossRanks("the tile layout (rank \(rank) sent fewer values than its plan)")
                }
                Self.add(all[offset..<(offset + layout.count)], layout: layout, plan: plan, to: &sums!)
                offset += layout.count
            }
            guard offset == all.count else {
                throw NTKError.mismatchAcrossRanks("the tile layout (\(all.count) values received, \(offset) expected)")
            }
        case .slabs:
            let layout = plan.tileLayout(of: comm.rank)
            let trainSize = plan.trainCount * plan.classes * plan.trainCount * plan.classes
            guard tiles.count == layout.count, layout.offsets == [0, trainSize] else {
                throw NTKError.mismatchAcrossRanks("the tile layout (split by slabs, \(tiles.count) values, \(layout.count) expected)")
            }
            // (sums + rank 0's tiles) + rank 1's + …: the same additions, in a fixed order, as
            // adding every rank's tiles on rank 0.
            if comm.isRoot {
                Self.add(tiles[...], layout: layout, plan: plan, to: &sums!)
                try comm.reduceSum(&sums!.trainTrain)
                try comm.reduceSum(&sums!.evalTrain)
            } else {
                try tiles.withUnsafeMutableBufferPointer { own in
                    try comm.reduceSum(UnsafeMutableBufferPointer(rebasing: own[..<trainSize]))
                    try comm.reduceSum(UnsafeMutableBufferPointer(rebasing: own[trainSize...]))
                }
            }
        }
    }

    /// Adds one rank's tiles (laid out as `layout`) into the running sums.
    static func add(_ tiles: ArraySlice<Double>, layout: NTKPlan.TileLayout, plan: NTKPlan, to sums: inout NTKPartialSums) {
        let trainRows = plan.trainCount * plan.classes
        tiles.withUnsafeBufferPointer { source in
            for (tile, offset) in zip(layout.tiles, layout.offsets) {
                let values = source.baseAddress! + offset
                let width = tile.columns.count
                func addInto(_ target: inout [Double]) {
                    target.withUnsafeMutableBufferPointer { t in
                        for (i, row) in tile.rows.enumerated() {
                            let destination = t.baseAddress! + row * trainRows + tile.columns.lowerBound
                            let columns = tile.lowerOnly ? (i + 1) : width
                            for j in 0..<columns { destination[j] += values[i * width + j] }
                        }
                    }
                }
                if tile.matrix == .trainTrain { addInto(&sums.trainTrain) } else { addInto(&sums.evalTrain) }
            }
        }
    }

    // MARK: One-step check

    /// One full-batch step of plain SGD with rate η on the mean cross-entropy over the train
    /// examples, on θ (backbone or LoRA) and the head, in eval mode. Every rank computes the
    /// gradient of its examples; the sum is allreduced; every rank updates identically.
    /// `stepSize` runs on rank 0 with the logits before the step. Rank 0 gets the logits
    /// before and after (N·C each) and η. The model's parameters are changed.
    func oneStep(model: SequenceClassifier<T>, plan: NTKPlan, batches: [TokenBatch], labels: [Int],
                 parameterSet: NTKParameterSet,
                 stepSize: ([Double]) -> Double) throws -> (before: [Double], after: [Double], stepSize: Double)? {
        let own = plan.trainExamples(of: comm.rank)
        model.trainHead = true
        model.zeroGradients()
        var before: [Double] = []
        for (i, batch) in batches.enumerated() {
            model.forward(batch)
            before += model.logits.map(Double.init)
            model.loss(labels: [labels[own.lowerBound + i]])
            model.backward()
        }
        let allBefore = try comm.gatherv(before)
        let eta = try comm.broadcast([comm.isRoot ? stepSize(allBefore!) : 0])[0]
        try comm.allreduceSum(model.parameters.gradients)
        // θ ← θ − η·(1/N)·Σ_i ∇CE_i
        let range = model.parameters.range(of: parameterSet == .backbone ? [.backbone, .head] : [.lora, .head])
        let rate = T(eta / Double(plan.trainCount))
        let values = model.parameters.values.baseAddress!, gradients = model.parameters.gradients.baseAddress!
        Parallel.forRanges(range.count, grain: 1 << 16) { r in
            for i in r { values[range.lowerBound + i] -= rate * gradients[range.lowerBound + i] }
        }
        var after: [Double] = []
        for batch in batches {
            model.forward(batch)
            after += model.logits.map(Double.init)
        }
        let allAfter = try comm.gatherv(after)
        guard let allBefore, let allAfter else { return nil }
        return (allBefore, allAfter, eta)
    }

    // MARK: Analysis

    static func analyze(_ m: NTKMatrices, step: (before: [Double], after: [Double], stepSize: Double),
                        regressions: [Result<KernelAnalysis.KernelAccuracy, Error>], labels: [Int], hasEval: Bool,
                        classes C: Int, epsilon: Double) -> NTKReport.Analysis {
        let n = labels.count, rows = n * C
        let relativeTolerance = Double(rows) * epsilon
        func summary(_ train: [Double], _ eval: [Double], _ regression: Result<KernelAnalysis.KernelAccuracy, Error>) -> NTKReport.KernelSummary {
            var note: String? = nil
            if case .failure(let error) = regression { note = describe(error) }
            return NTKReport.KernelSummary(frobeniusTrain: KernelAnalysis.frobeniusNorm(train),
                                           frobeniusEval: hasEval ? KernelAnalysis.frobeniusNorm(eval) : nil,
                                           spectrum: KernelAnalysis.spectrum(train, n: rows, relativeTolerance: relativeTolerance, top: 10),
                                           kernelRegression: try? regression.get(), kernelRegressionNote: note)
        }
        let delta = KernelAnalysis.residuals(logits: step.before, labels: labels, classes: C)
        let fDelta = KernelAnalysis.apply(m.fteTrain, rows: rows, columns: rows, delta)
        let ntkDelta = KernelAnalysis.apply(m.ntkTrain, rows: rows, columns: rows, delta)
        let predicted = ntkDelta.map { step.stepSize / Double(n) * $0 }
        let observed = zip(step.after, step.before).map { $0 - $1 }
        var loss = 0.0
        for (i, label) in labels.enumerated() { loss -= log(max(1 - delta[i * C + label], .leastNonzeroMagnitude)) }
        return NTKReport.Analysis(
            rankRule: "rank = #{eigenvalues λ > n·ε·max|λ|}, n = \(rows) rows, ε = \(epsilon) (machine epsilon of the Jacobian's scalar type); tolerance per kernel below",
            pte: summary(m.pteTrain, m.pteEval, regressions[0]), fte: summary(m.fteTrain, m.fteEval, regressions[1]),
            ntk: summary(m.ntkTrain, m.ntkEval, regressions[2]),
            ftRatio: KernelAnalysis.ftRatio(fDelta: fDelta, ntkDelta: ntkDelta, examples: n, classes: C),
            oneStep: .init(stepSize: step.stepSize,
                           convention: "mean cross-entropy over the N train examples: θ ← θ − η·∇(1/N Σ CE_i) on θ and the head "
                               + "(eval mode); predicted logit change = (η/N)·(P+F)·δ, δ = onehot(y) − softmax(f0); "
                               + "observed = f1 − f0 after the step",
                           comparison: KernelAnalysis.compare(predicted: predicted, observed: observed)),
            trainLoss: loss / Double(n))
    }
}

/// One rank's statistics, gathered to rank 0 as one value for kernel.json's `run`.
struct NTKRankStatistics: Codable {
    /// Seconds per phase (`NTKTimings.phases`).
    var timings: [String: Double]
    var peakResidentMiB: Double
    /// The rank's product flops / its product seconds, in GFLOP/s.
    var gramGflops: Double
    var gramFlops: Double
}

/// Everything a checkpoint's sums depend on.
struct NTKIdentity: Encodable {
    var plan: NTKPlan
    var model: String, head: String, examples: String
    var maxLength: Int, sample: WordEmbeddingSample?, precision: String, lora: LoRAConfig
    var train: Int, eval: Int
}

/// The assembled kernels (float64, row-major), rows example-major: train×train and eval×train of P, F and P + F.
public struct NTKMatrices {
    public var pteTrain: [Double], fteTrain: [Double], ntkTrain: [Double]
    public var pteEval: [Double], fteEval: [Double], ntkEval: [Double]

    /// From P and F as `ntk` writes them (pte.npy, fte.npy and their _eval files).
    public init(pteTrain: [Double], fteTrain: [Double], pteEval: [Double], fteEval: [Double]) {
        self.pteTrain = pteTrain
        self.fteTrain = fteTrain
        self.pteEval = pteEval
        self.fteEval = fteEval
        ntkTrain = zip(pteTrain, fteTrain).map(+)
        ntkEval = zip(pteEval, fteEval).map(+)
    }

    init(sums: NTKPartialSums, trainCount N: Int, evalCount M: Int, classes C: Int, hidden H: Int) {
        let R = N * C
        // F: the lower triangle holds every tile's sum (the word share, added to both halves
        // alike, included); mirror it.
        var f = sums.trainTrain
        for i in 0..<R { for j in (i + 1)..<max(R, i + 1) { f[i * R + j] = f[j * R + i] } }
        self.init(pteTrain: KernelAnalysis.pretrainEffective(sums.trainFeatures, count: N, sums.trainFeatures, count: N, hidden: H, classes: C),
                  fteTrain: f,
                  pteEval: KernelAnalysis.pretrainEffective(sums.evalFeatures, count: M, sums.trainFeatures, count: N, hidden: H, classes: C),
                  fteEval: sums.evalTrain)
    }
}
