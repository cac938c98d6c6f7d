import Foundation
import Model

/// Tokenised examples of one data split.
struct EncodedSplit {
    var name: String
    var encodings: [Encoding]
    var labels: [Int]
    var count: Int { labels.count }

    init(name: String, examples: [Example], tokenizer: any TextTokenizer, maxLength: Int) {
        self.name = name
        encodings = examples.map { tokenizer.encode($0.text, pair: $0.textPair, maxLength: maxLength) }
        labels = examples.map(\.label)
    }

    init(name: String, encodings: [Encoding], labels: [Int]) {
        self.name = name
        self.encodings = encodings
        self.labels = labels
    }

    func batch(_ indices: ArraySlice<Int>, config: EncoderConfig) -> TokenBatch {
        TokenBatch(indices.map { encodings[$0] }, config: config)
    }
}

/// One data-parallel training run of one method: LP and/or the FT (or LoRA) stage, with the
/// paper's measurements. Every rank constructs it with the same inputs and calls run().
///
/// - LP: eval-mode features of the training split, computed shard-wise and gathered on rank 0,
///   multinomial L2 logistic regression with 5-fold CV; the head is broadcast to all ranks.
/// - Training stage: the global batch of a step depends on (seed, epoch, step) only
///   (GlobalBatches); rank r trains on its slice of it, in passes of --micro-batch-size; per
///   step one allreduce averages the gradients; every rank clips and applies AdamW identically;
///   parameters are compared across ranks at every validation. Checkpoints (Checkpoint.swift)
///   can therefore be resumed on any number of ranks; stop signals end the run at a step
///   boundary after a checkpoint (Checkpoint.swift, `StopRequest`).
/// - The validation (epoch end, or every --eval-every steps) with the best accuracy gives the
///   final model, evaluated on the validation, test and OOD sets with calibration
///   before/after temperature scaling.
public final class Trainer {
    let comm: Communicator
    var config: TrainingConfig
    let task: TaskData
    let tokenizer: any TextTokenizer
    let model: SequenceClassifier<Float>
    let progress: ProgressReporter
    let output: URL

    let train: EncodedSplit
    let validation: EncodedSplit
    let test: EncodedSplit
    let ood: [EncodedSplit]

    var timing: [String: Double] = [:]
    /// Optimizer steps per epoch (⌈training examples ÷ global batch⌉, whatever the ranks), and
    /// of the whole training stage (epochs × that, or --max-steps).
    let stepsPerEpoch: Int, totalSteps: Int
    /// The checkpoint a resumed run continues from (tensors read when the stage starts).
    var resumeFrom: SafetensorsFile?
    var resumeOptimizerStep = 0
    /// Called on every rank once a checkpoint is complete on disk (fault drills).
    public var afterCheckpoint: ((_ completedEpochs: Int, _ completedSteps: Int, _ atEpochEnd: Bool) -> Void)?
    /// TensorBoard scalars (rank 0, with --tensorboard).
    var scalars: ScalarLog?

    /// Loads the model on every rank, then makes every replica identical to rank 0's.
    public init(comm: Communicator, config: TrainingConfig, task: TaskData, progress: Bool = true) throws {
        try config.validate(worldSize: comm.size)
        self.comm = comm
        var config = config
        config.worldSize = comm.size
        config.classNames = task.classNames
        if comm.isRoot { config.gitCommit = RunFiles.gitCommit() }
        self.config = config
        self.progress = ProgressReporter(enabled: comm.isRoot && progress)
        output = URL(fileURLWithPath: config.outputDirectory)

        var task = task
        if let maxTrain = config.maxTrain { task.train = Self.fixedSubset(task.train, count: maxTrain) }
        if let maxEval = config.maxEval {
            task.validation = Self.fixedSubset(task.validation, count: maxEval)
            task.test = Self.fixedSubset(task.test, count: maxEval)
            task.ood = task.ood.map { NamedSplit(name: $0.name, examples: Self.fixedSubset($0.examples, count: maxEval)) }
        }
        guard task.classNames.count >= 2 else { throw TrainingError.invalidSetting("the task has \(task.classNames.count) class(es); at least 2 are needed") }
        for (name, split) in [("train", task.train), ("validation", task.validation), ("test", task.test)] where split.isEmpty {
            throw TrainingError.invalidSetting("the \(name) split is empty; check the data files")
        }
        try task.checkSplitNames()
        (stepsPerEpoch, totalSteps) = try config.stepCounts(trainExamples: task.train.count, worldSize: comm.size)
        self.task = task

        let start = Date()
        let files = try ModelDirectory(URL(fileURLWithPath: config.modelDirectory))
        let allExamples = [task.train, task.validation, task.test] + task.ood.map(\.examples)
        try files.checkInputs(maxLength: config.maxLength, hasPairs: allExamples.contains { $0.contains { $0.textPair != nil } })
        let tokenizer = files.tokenizer
        self.tokenizer = tokenizer
        model = try files.classifier(classes: task.classNames.count, lora: config.loraConfig, seed: config.seed)
        if let dropout = config.dropout { model.setDropout(hidden: dropout, attention: dropout) }
        // Identical replicas: rank 0's weights (and head/LoRA initialisation) everywhere.
        try comm.broadcast(model.parameters.values, root: 0)
        timing["load_model"] = Date().timeIntervalSince(start)

        let tokenizeStart = Date()
        let maxLength = config.maxLength
        train = EncodedSplit(name: "train", examples: task.train, tokenizer: tokenizer, maxLength: maxLength)
        validation = EncodedSplit(name: "validation", examples: task.validation, tokenizer: tokenizer, maxLength: maxLength)
        test = EncodedSplit(name: "test", examples: task.test, tokenizer: tokenizer, maxLength: maxLength)
        ood = task.ood.map { EncodedSplit(name: $0.name, examples: $0.examples, tokenizer: tokenizer, maxLength: maxLength) }
        // Every token against the model once, here, before any forward indexes its tables.
        for split in [train, validation, test] + ood {
            do {
                try TokenBatch.validate(split.encodings, config: model.config)
            } catch {
                throw TrainingError.invalidSetting("the \(split.name) split: \(describe(error))")
            }
        }
        timing["tokenize"] = Date().timeIntervalSince(tokenizeStart)
    }

    // MARK: Output folder

    /// Claims the run's output folder (`RunFolder.claim` on rank 0; every rank learns the
    /// outcome) before anything is loaded, so that a run that fails from here on leaves a
    /// FAILED file with its message in its own folder — and never in a folder it did not claim.
    public static func claimOutputFolder(comm: Communicator, config: TrainingConfig,
                                         mode: RunFolder.Mode) throws -> RunFolder.Claim {
        let outcomes: [RunFolder.Claim] = [.start, .resume, .complete]
        var code: Int32 = -1
        var failure: Error?
        if comm.isRoot {
            do {
                let claim = try RunFolder.claim(URL(fileURLWithPath: config.outputDirectory), mode: mode, config: config)
                code = Int32(outcomes.firstIndex(of: claim)!)
            } catch {
                failure = error
            }
        }
        code = try comm.broadcast([code], root: 0)[0]
        if let failure { throw failure }
        guard outcomes.indices.contains(Int(code)) else {
            throw TrainingError.outputFolder("rank 0 could not claim the output folder \(config.outputDirectory)")
        }
        let output = URL(fileURLWithPath: config.outputDirectory)
        JobFailure.onFailure { message, rank in RunFolder.recordFailure(in: output, message: message, rank: rank) }
        return outcomes[Int(code)]
    }

    // MARK: Run

    /// Runs the method end to end and writes config.json, history.jsonl, steps.jsonl and
    /// metrics.json (rank 0). Returns the metrics: complete on rank 0; the evaluation sets and
    /// the feature change are computed there only, so on the other ranks `eval` is empty and
    /// `features` zero.
    @discardableResult
    public func run(resume: Bool = false) throws -> RunMetrics {
        let runStart = Date()
        if comm.isRoot { try RunFiles.writeJSON(config, to: output.appendingPathComponent("config.json")) }
        if comm.isRoot, let folder = config.tensorboard { scalars = try ScalarLog(directory: URL(fileURLWithPath: folder)) }
        defer { scalars?.flush() }
        // From here a stop signal no longer kills the process: the run stops at its next
        // checkpoint (after LP, or at a step boundary of the training stage).
        StopRequest.install()
        var state = TrainingState()
        if resume, let restored = try loadCheckpoint() {
            state = restored
            progress.log("resumed after \(state.completedSteps ?? 0) step(s), \(state.completedEpochs) complete epoch(s) (stage \(state.linearProbeDone ? "after LP" : "start"))")
        } else {
            state.headNormInit = headNorm()
        }
        let lpIsOnlyStage = config.method == .lp

        // Features of the test set before any training (for Diff/CS/FDR of the FT stage).
        if state.testFeaturesBefore == nil {
            let t0 = Date()
            let before = try forwardAll(test)
            state.testFeaturesBefore = before?.features ?? []
            timing["features_before", default: 0] += Date().timeIntervalSince(t0)
        }

        if config.method.fitsLinearProbe && !state.linearProbeDone {
            try linearProbe(&state)
            if !lpIsOnlyStage {
                try saveCheckpoint(state)
                try stopIfRequested(step: 0)
            }
        }
        if config.method.hasTrainingStage {
            if !state.linearProbeDone && config.method.fitsLinearProbe { preconditionFailure("LP must precede training") }
            try trainingStage(&state)
        }
        try saveHead(to: "head.safetensors")
        if config.method.usesLoRA { try saveLoRA() }
        let (finalMetrics, evaluated) = try finalEvaluation(state, runStart: runStart)
        var metrics = finalMetrics
        if comm.isRoot, let evaluated {
            // metrics.json is the run's last file: its presence means the run is complete (with its
            // logits and model).
            let t0 = Date()
            try saveLogits(evaluated.logits)
            if config.saveModel != ModelSaving.none {
                try saveModel(temperature: evaluated.temperature, bestEpoch: state.bestEpoch)
                progress.log("wrote \(output.appendingPathComponent("model").path)\(config.method.usesLoRA ? " and adapter/" : "")")
            }
            metrics.timing.phases["save_model"] = Date().timeIntervalSince(t0)
            try RunFiles.writeJSON(metrics, to: output.appendingPathComponent("metrics.json"))
            progress.log("wrote \(output.appendingPathComponent("metrics.json").path)")
        }
        JobFailure.onFailure(nil)
        return metrics
    }

    // MARK: Linear probing

    func linearProbe(_ state: inout TrainingState) throws {
        let t0 = Date()
        progress.log("LP: features of \(train.count) training examples on \(comm.size) rank(s)")
        let (head, info) = try fitLinearProbe(comm: comm, model: model, split: train, batchSize: config.evalBatchSize,
                                              progress: progress)
        model.setHead(head)
        state.linearProbe = info
        state.headNormAfterLP = headNorm()
        state.linearProbeDone = true
        try saveHead(to: "lp_head.safetensors")
        timing["lp"] = Date().timeIntervalSince(t0)
        progress.log(String(format: "LP: C = %.0e (CV accuracy %.3f), head norm %.3f → %.3f",
                            info.strength, info.cv_accuracy, state.headNormInit, state.headNormAfterLP!))
    }

    /// Writes the classifier head as safetensors {weight [C, H], bias [C]} (rank 0): the format
    /// `lpft-mpi ntk --head FILE` reads.
    func saveHead(to name: String) throws {
        guard comm.isRoot else { return }
        try SafetensorsWriter.write(model.headTensors, to: output.appendingPathComponent(name),
                                    metadata: ["method": config.method.rawValue, "model": config.modelDirectory])
    }

    /// Writes the LoRA factors and the head (the trained adapter) as lora.safetensors (rank 0).
    func saveLoRA() throws {
        guard comm.isRoot else { return }
        let entries = model.parameters.entries.filter { $0.group != .backbone }
        try SafetensorsWriter.write(entries.map { (name: $0.name, shape: $0.shape, values: Array(model.parameters.values[$0.range])) },
                                    to: output.appendingPathComponent("lora.safetensors"),
                                    metadata: ["rank": String(config.loraRank), "alpha": String(config.loraAlpha)])
    }

    /// ‖V‖_F of the classifier weight.
    func headNorm() -> Double {
        let e = model.parameters.entry("classifier.weight")!
        var s = 0.0
        for i in e.range { s += Double(model.parameters.values[i]) * Double(model.parameters.values[i]) }
        return s.squareRoot()
    }

    // MARK: Training stage (FT or LoRA)

    func trainingStage(_ state: inout TrainingState) throws {
        let P = comm.size, perRank = config.batchSize / P
        let micro = config.microBatchSize ?? perRank
        let useLoRA = config.method.usesLoRA
        model.trainBackbone = !useLoRA
        model.trainLoRA = useLoRA
        model.trainHead = true
        let range = useLoRA ? model.parameters.range(of: [.lora, .head]) : model.parameters.range(of: [.backbone, .head])
        let optimizer = AdamW(parameters: model.parameters, range: range, weightDecay: config.weightDecay)
        if !useLoRA {
            let table = model.wordEmbeddingTable
            optimizer.setSparseTable(range: table.range, rowLength: table.rowLength)
        }
        let batches = GlobalBatches(examples: train.count, batchSize: config.batchSize, seed: config.seed)
        let epochs = (totalSteps + stepsPerEpoch - 1) / stepsPerEpoch
        let schedule = LinearSchedule(baseRate: config.learningRate, totalSteps: totalSteps,
                                      warmupSteps: Int((config.warmupRatio * Double(totalSteps)).rounded(.up)))
        var best = [Float](repeating: 0, count: range.count)
        let buckets = P == 1 ? nil : GradientBuckets(comm: comm, model: model, trainable: range,
                                                     bucketBytes: Int((config.bucketMegabytes ?? 25) * 1_048_576),
                                                     overlap: config.overlap ?? true, wire: config.allreduceDType ?? .f32)

        let startStep = state.completedSteps ?? state.completedEpochs * stepsPerEpoch
        if startStep == 0 {
            if config.headScale != 1 {
                let e = model.parameters.entry("classifier.weight")!, b = model.parameters.entry("classifier.bias")!
                for i in e.range { model.parameters.values[i] *= Float(config.headScale) }
                for i in b.range { model.parameters.values[i] *= Float(config.headScale) }
                progress.log(String(format: "head scaled by %g before training: norm %.3f", config.headScale, headNorm()))
            }
            state.headNormStart = headNorm()
        } else {
            try restoreTrainingCheckpoint(&state, optimizer: optimizer, range: range, best: &best)
        }
        if startStep % stepsPerEpoch == 0 { try kernelSnapshot(epoch: startStep / stepsPerEpoch) }
        let length = config.maxSteps.map { "\($0) step(s) (\(epochs) epoch(s) of \(stepsPerEpoch))" }
            ?? "\(epochs) epoch(s) × \(stepsPerEpoch) step(s)"
        progress.log("\(useLoRA ? "LoRA" : "FT"): \(length), global batch \(config.batchSize) (\(perRank) per rank × \(P)"
                     + (micro < perRank ? " in passes of \(micro)" : "") + "), lr \(config.learningRate)")

        var order: [Int] = [], orderEpoch = -1
        var lastCheckpoint = Date()
        for globalStep in startStep..<totalSteps {
            let epoch = globalStep / stepsPerEpoch, step = globalStep % stepsPerEpoch
            if epoch != orderEpoch { order = batches.order(epoch: epoch); orderEpoch = epoch }
            comm.stallContext = "\(useLoRA ? "LoRA" : "FT") epoch \(epoch + 1) step \(step + 1)"
            let stepStart = comm.wallTime()
            var allreduceSeconds = 0.0
            // This rank's slice of the global batch, in passes of at most `micro` examples. Each
            // pass's gradient is weighted by its share of the global batch times P, so that the
            // average over ranks is the gradient of the global mean loss (weight 1 when the
            // ranks share the batch evenly in one pass each).
            let global = batches.batch(step: step)
            let mine = GlobalBatches.slice(global, rank: comm.rank, worldSize: P)
            model.zeroGradients()
            var localLoss = 0.0
            let passes = GlobalBatches.microBatches(mine, size: micro)
            for (pass, part) in passes.enumerated() {
                let indices = order[part]
                let weight = Double(part.count * P) / Double(global.count)
                model.forward(train.batch(indices, config: model.config),
                              dropoutSeed: dropoutSeed(epoch: epoch, step: step, pass: pass))
                localLoss += weight * model.loss(labels: indices.map { train.labels[$0] }, gradientScale: weight)
                // The last pass finishes the gradients: their sums over the ranks start while
                // its backward goes on.
                model.backward(onGradientsReady: pass == passes.count - 1 ? buckets?.gradientsReady : nil)
            }
            // Average the gradients over the ranks (a rank without examples this step sends zeros).
            if let buckets { allreduceSeconds = try buckets.finish() }
            // The loss, the stop signals (any rank's) and rank 0's checkpoint clock in one allreduce,
            // so every rank takes the same decisions at this step boundary.
            let minutesDue = comm.isRoot && config.checkpointMinutes.map { Date().timeIntervalSince(lastCheckpoint) >= $0 * 60 } == true
            var shared = [localLoss, StopRequest.isRequested ? 1 : 0, minutesDue ? 1 : 0]
            if P > 1 { try comm.allreduceSum(&shared) }
            let loss = shared[0] / Double(P), stopRequested = shared[1] > 0
            guard loss.isFinite else { throw TrainingError.nonFiniteLoss(epoch: epoch, step: step) }
            // With P > 1, `buckets.finish()` made the touched rows the union over the ranks.
            let ranges = model.touchedRows.gradientRanges(within: range)
            let gradNorm = gradientNorm(model.parameters, ranges: ranges)
            let rate = schedule.rate(atStep: globalStep)
            optimizer.update(model.parameters, learningRate: rate,
                             gradientScale: clippingFactor(norm: gradNorm, maxNorm: config.maxGradNorm),
                             touchedRows: useLoRA ? nil : model.touchedRows)
            let seconds = comm.wallTime() - stepStart
            let record = StepRecord(epoch: epoch + 1, step: step + 1, global_step: globalStep + 1, loss: loss,
                                    grad_norm: gradNorm, learning_rate: rate, seconds: seconds, allreduce_seconds: allreduceSeconds)
            state.steps.append(record)
            state.completedSteps = globalStep + 1
            state.completedEpochs = (globalStep + 1) / stepsPerEpoch
            state.lossSinceValidation = (state.lossSinceValidation ?? 0) + loss
            state.stepsSinceValidation = (state.stepsSinceValidation ?? 0) + 1
            state.secondsSinceValidation = (state.secondsSinceValidation ?? 0) + seconds
            scalars?.step(record, examplesPerSecond: Double(global.count) / max(seconds, 1e-9))
            let done = state.stepsSinceValidation!, elapsed = state.secondsSinceValidation!
            progress.update(String(format: "epoch %d/%d  step %d/%d  loss %.4f  %.1f ex/s  ETA %@",
                                   epoch + 1, epochs, step + 1, stepsPerEpoch, loss,
                                   Double(done * config.batchSize) / max(elapsed, 1e-9),
                                   Self.duration(elapsed / Double(done) * Double(totalSteps - globalStep - 1))))

            let epochEnds = step == stepsPerEpoch - 1, last = globalStep + 1 == totalSteps
            let validates = last || (config.evalEvery.map { (globalStep + 1) % $0 == 0 } ?? epochEnds)
            if validates {
                comm.stallContext = "validation after step \(globalStep + 1): replica check, validation, checkpoint"
                try validate(&state, epoch: epoch, range: range, best: &best, learningRate: rate)
            }
            let checkpointDue = config.checkpointEvery.map { (globalStep + 1) % $0 == 0 } == true || shared[2] > 0
            if validates || epochEnds || checkpointDue || stopRequested {
                if comm.isRoot { try RunFiles.writeJSONLines(state.steps, to: output.appendingPathComponent("steps.jsonl")) }
                try saveCheckpoint(state, optimizer: optimizer, range: range, best: best)
                lastCheckpoint = Date()
                afterCheckpoint?(state.completedEpochs, globalStep + 1, epochEnds)
            }
            if epochEnds { try kernelSnapshot(epoch: epoch + 1) }
            if stopRequested {
                scalars?.flush()
                throw Preempted(step: globalStep + 1)
            }
        }
        // The best validated model becomes the final model.
        _ = best.withUnsafeBufferPointer { model.parameters.values[range].update(from: $0) }
        progress.log("best \(config.evalEvery == nil ? "epoch" : "validation") \(state.bestEpoch ?? 0) (validation accuracy \(String(format: "%.4f", state.bestValidationAccuracy)))")
    }

    /// Throws `Preempted` on every rank when any rank received a stop signal (after a checkpoint).
    func stopIfRequested(step: Int) throws {
        var flag: [Double] = [StopRequest.isRequested ? 1 : 0]
        if comm.size > 1 { try comm.allreduceSum(&flag) }
        if flag[0] > 0 { throw Preempted(step: step) }
    }

    /// Validation after a step: the replicas must agree; accuracy picks the best model (kept in
    /// `best`); history.jsonl gets a line. `bestEpoch` counts validations (= epochs unless
    /// --eval-every).
    func validate(_ state: inout TrainingState, epoch: Int, range: Range<Int>, best: inout [Float], learningRate: Double) throws {
        try checkReplicasAgree(epoch: epoch, range: range)
        let evalStart = Date()
        let val = try forwardAll(validation)
        var validationAccuracy = 0.0, validationLoss = 0.0
        if let val {
            let logits = try Logits(val.logits, classes: task.classNames.count)
            validationAccuracy = try ClassificationMetrics.accuracy(predicted: logits.predictions(), labels: validation.labels)
            validationLoss = try CalibrationMetrics.negativeLogLikelihood(logits: logits, labels: validation.labels)
        }
        let shared = try comm.broadcast([validationAccuracy, validationLoss], root: 0)
        validationAccuracy = shared[0]; validationLoss = shared[1]
        let steps = state.stepsSinceValidation ?? 1, seconds = state.secondsSinceValidation ?? 0
        let record = EpochRecord(epoch: epoch + 1, train_loss: (state.lossSinceValidation ?? 0) / Double(steps),
                                 validation_accuracy: validationAccuracy, validation_loss: validationLoss,
                                 head_norm: headNorm(), learning_rate: learningRate,
                                 seconds: seconds, eval_seconds: Date().timeIntervalSince(evalStart),
                                 examples_per_s: Double(steps * config.batchSize) / max(seconds, 1e-9),
                                 global_step: state.completedSteps)
        state.history.append(record)
        state.lossSinceValidation = 0; state.stepsSinceValidation = 0; state.secondsSinceValidation = 0
        timing["train", default: 0] += seconds
        timing["validation", default: 0] += record.eval_seconds
        if state.bestEpoch == nil || validationAccuracy > state.bestValidationAccuracy {
            state.bestEpoch = state.history.count
            state.bestValidationAccuracy = validationAccuracy
            _ = best.withUnsafeMutableBufferPointer { $0.update(from: model.parameters.values[range]) }
        }
        scalars?.validation(record)
        progress.log(String(format: "epoch %d step %d  train loss %.4f  val acc %.4f  val loss %.4f  head norm %.3f  %.1f ex/s  %@",
                            epoch + 1, state.completedSteps ?? 0, record.train_loss, validationAccuracy, validationLoss,
                            record.head_norm, record.examples_per_s, Self.duration(seconds)))
        if comm.isRoot { try RunFiles.writeJSONLines(state.history, to: output.appendingPathComponent("history.jsonl")) }
    }

    /// `count` examples drawn at random with a fixed seed (the same subset for every run and
    /// every --seed), kept in their original order. Not a prefix: data files are often sorted
    /// by label or source (VADER's movie snippets are positive first), so a prefix is biased.
    public static func fixedSubset(_ examples: [Example], count: Int) -> [Example] {
        guard count < examples.count else { return examples }
        var rng = RandomGenerator(seed: 0)
        var indices = Array(examples.indices)
        for i in 0..<count { indices.swapAt(i, i + rng.uniform(below: examples.count - i)) }
        return indices[0..<count].sorted().map { examples[$0] }
    }

    /// Dropout masks differ per (seed, epoch, step, rank, pass) and are derived from them alone,
    /// so a run resumed from any checkpoint repeats them exactly (same ranks and passes).
    func dropoutSeed(epoch: Int, step: Int, pass: Int = 0) -> UInt64 {
        var g = RandomGenerator(seed: config.seed, stream: UInt64(epoch) << 40 ^ UInt64(step) << 12 ^ UInt64(comm.rank)
                                    ^ UInt64(pass) << 56)
        return g.next()
    }

    /// Every rank hashes its trainable parameters; any difference is a loud error.
    func checkReplicasAgree(epoch: Int, range: Range<Int>) throws {
        guard comm.size > 1 else { return }
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for i in range { hash = (hash ^ UInt64(model.parameters.values[i].bitPattern)) &* 0x100_0000_01B3 }
        let value = Int64(bitPattern: hash)
        let high = try comm.allreduceMax(value), low = try comm.allreduceMin(value)
        if high != low {
            throw TrainingError.divergedReplicas(epoch: epoch + 1, detail: "parameter hashes \(low) … \(high)")
        }
    }

    public static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
                         : String(format: "%dm%02ds", s / 60, s % 60)
    }

    // MARK: Evaluation

    func forwardAll(_ split: EncodedSplit, phase: String? = nil) throws -> (features: [Float], logits: [Float])? {
        try shardedForward(comm: comm, model: model, split: split, batchSize: config.evalBatchSize, progress: progress, phase: phase)
    }

    /// Logits of every evaluation set in split order, (n, C), and the temperature fitted on the
    /// validation set (rank 0).
    struct EvaluatedLogits {
        var logits: [(set: String, values: [Float])]
        var temperature: Double
    }

    /// The final model on the validation, test and OOD sets: metrics (every rank; filled on
    /// rank 0) and, on rank 0, the logits and the fitted temperature.
    func finalEvaluation(_ state: TrainingState, runStart: Date) throws -> (RunMetrics, EvaluatedLogits?) {
        let t0 = Date()
        let C = task.classNames.count, H = model.config.hidden
        let validationOut = try forwardAll(validation, phase: "eval validation")
        let testOut = try forwardAll(test, phase: "eval test")
        var oodOut: [(String, (features: [Float], logits: [Float])?)] = []
        for split in ood { oodOut.append((split.name, try forwardAll(split, phase: "eval \(split.name)"))) }
        let evalSeconds = Date().timeIntervalSince(t0)
        let evaluatedCount = validation.count + test.count + ood.reduce(0) { $0 + $1.count }

        var eval: [String: SetMetrics] = [:]
        var evaluated: EvaluatedLogits?
        var features = FeatureMetrics(diff: 0, cs: 0, fdr: 0, cs_before: 0, fdr_before: 0)
        if comm.isRoot, let validationOut, let testOut {
            let validationLogits = try Logits(validationOut.logits, classes: C)
            let temperature = try TemperatureScaling.fit(logits: validationLogits, labels: validation.labels)
            var sets = [(set: "validation", values: validationOut.logits, labels: validation.labels),
                        (set: "test", values: testOut.logits, labels: test.labels)]
            for (split, out) in zip(ood, oodOut) {
                if let result = out.1 { sets.append((set: split.name, values: result.logits, labels: split.labels)) }
            }
            for s in sets { eval[s.set] = try SetMetrics(logits: s.values, labels: s.labels, classes: C, temperature: temperature) }
            evaluated = EvaluatedLogits(logits: sets.map { ($0.set, $0.values) }, temperature: temperature)
            let before = state.testFeaturesBefore ?? []
            features = FeatureMetrics(
                diff: try FeatureStatistics.meanFeatureChange(before: before, after: testOut.features, count: test.count, dimension: H),
                cs: try FeatureStatistics.meanPairwiseCosine(features: testOut.features, count: test.count, dimension: H),
                fdr: try FeatureStatistics.fisherDiscriminantRatio(features: testOut.features, count: test.count, dimension: H,
                                                                   labels: test.labels, classes: C),
                cs_before: try FeatureStatistics.meanPairwiseCosine(features: before, count: test.count, dimension: H),
                fdr_before: try FeatureStatistics.fisherDiscriminantRatio(features: before, count: test.count, dimension: H,
                                                                          labels: test.labels, classes: C))
            if let t = eval["test"] {
                progress.log(String(format: "test accuracy %.4f  ECE %.4f → %.4f (T = %.3f)  Diff(F) %.4f",
                                    t.accuracy, t.ece, t.ece_ts, t.temperature, features.diff))
            }
        }
        var phases = timing
        phases["final_evaluation"] = evalSeconds
        let trainExamples = state.history.reduce(0) { $0 + $1.examples_per_s * $1.seconds }
        let trainSeconds = state.history.reduce(0) { $0 + $1.seconds }
        return (RunMetrics(
            method: config.method.rawValue, data: config.data, world_size: comm.size, classes: task.classNames,
            eval: eval,
            head_norm: HeadNorms(init: state.headNormInit, after_lp: state.headNormAfterLP, start_of_training: state.headNormStart,
                                 final: headNorm(), per_epoch: state.history.map(\.head_norm)),
            features: features, linear_probe: state.linearProbe, best_epoch: state.bestEpoch,
            timing: Timing(total_seconds: Date().timeIntervalSince(runStart), phases: phases,
                           train_examples_per_s: trainSeconds > 0 ? trainExamples / trainSeconds : nil,
                           eval_examples_per_s: Double(evaluatedCount) / max(evalSeconds, 1e-9))), evaluated)
    }
}
