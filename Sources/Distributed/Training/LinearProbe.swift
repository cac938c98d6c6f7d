import Foundation
import Model

/// The one evaluation pass (validation, test and OOD sets, LP features, `predict`, `evaluate`,
/// `embed`): eval-mode forwards over `encodings`, sorted by length and cut into batches of
/// `batchSize` (little padding); rank r computes batches r, r + P, r + 2P, …, longest first, so
/// the activation buffers allocated for the first batch serve every later one (shortest first
/// would grow them, and fault in fresh pages, at almost every batch). After each forward
/// `rows(model)` returns `width` values per example of the batch; rank 0 gets them for every
/// example in input order (nil on other ranks). Every batch is the same whatever the number of
/// ranks, so the results — and the linear probe fitted on them — do not depend on P.
public func shardedEval(comm: Communicator, model: SequenceClassifier<Float>, encodings: [Encoding], batchSize: Int,
                        allTokens: Bool = false, width: Int, progress: ProgressReporter? = nil, phase: String? = nil,
                        rows: (SequenceClassifier<Float>) -> [Float]) throws -> [Float]? {
    let N = encodings.count, P = comm.size, r = comm.rank
    let byLength = (0..<N).sorted { (encodings[$0].ids.count, $0) < (encodings[$1].ids.count, $1) }
    let batches = stride(from: 0, to: N, by: batchSize).map { byLength[$0..<min(N, $0 + batchSize)] }
    func examples(of rank: Int) -> [Int] { stride(from: rank, to: batches.count, by: P).flatMap { batches[$0] } }
    // This rank's batches and where each one's rows go in `local`.
    let mine = Array(stride(from: r, to: batches.count, by: P))
    var rowOffsets: [Int] = [], count = 0
    for b in mine { rowOffsets.append(count); count += batches[b].count }
    var local = [Float](repeating: 0, count: count * width)
    var done = 0
    let t0 = Date()
    for (b, row) in zip(mine, rowOffsets).reversed() {
        let indices = batches[b]
        model.forward(TokenBatch(indices.map { encodings[$0] }, config: model.config), allTokens: allTokens)
        let values = rows(model)
        precondition(values.count == indices.count * width, "rows(model) gave \(values.count) values for \(indices.count) examples × \(width)")
        local.replaceSubrange((row * width)..<((row + indices.count) * width), with: values)
        done += indices.count
        if let phase, let progress {
            let rate = Double(done * P) / max(Date().timeIntervalSince(t0), 1e-9)
            progress.update(String(format: "%@: %d/%d  %.0f ex/s", phase, min(done * P, N), N, rate))
        }
    }
    guard let all = try comm.gatherv(local, root: 0) else { return nil }
    // Rank 0 received rank 0's examples, then rank 1's, …: put them back in input order.
    var ordered = [Float](repeating: 0, count: N * width)
    for (k, i) in (0..<P).flatMap(examples(of:)).enumerated() {
        ordered.replaceSubrange((i * width)..<((i + 1) * width), with: all[(k * width)..<((k + 1) * width)])
    }
    return ordered
}

/// Eval-mode features (N, H) and logits (N, C) of a split on rank 0 in split order (nil on
/// other ranks), by `shardedEval`.
func shardedForward(comm: Communicator, model: SequenceClassifier<Float>, split: EncodedSplit, batchSize: Int,
                    progress: ProgressReporter? = nil, phase: String? = nil) throws -> (features: [Float], logits: [Float])? {
    let H = model.config.hidden, C = model.classes
    let rows = try shardedEval(comm: comm, model: model, encodings: split.encodings, batchSize: batchSize, width: H + C,
                               progress: progress, phase: phase) { model in
        let B = model.batchSize
        var values = [Float](repeating: 0, count: B * (H + C))
        for k in 0..<B {
            for j in 0..<H { values[k * (H + C) + j] = model.features[k * H + j] }
            for c in 0..<C { values[k * (H + C) + H + c] = model.logits[k * C + c] }
        }
        return values
    }
    guard let rows else { return nil }
    let N = split.count
    var features = [Float](repeating: 0, count: N * H), logits = [Float](repeating: 0, count: N * C)
    for i in 0..<N {
        for j in 0..<H { features[i * H + j] = rows[i * (H + C) + j] }
        for c in 0..<C { logits[i * C + c] = rows[i * (H + C) + H + c] }
    }
    return (features, logits)
}

/// The paper's linear probe: eval-mode features of `split` computed shard-wise and gathered on
/// rank 0, multinomial L2 logistic regression with 5-fold CV over 10 strengths 1e-4…1e4
/// (L-BFGS, tol 1e-4, ≤ 5000 iterations, intercept), the head broadcast to every rank.
/// A collective call: every rank gets the same head.
func fitLinearProbe(comm: Communicator, model: SequenceClassifier<Float>, split: EncodedSplit, batchSize: Int,
                    progress: ProgressReporter? = nil) throws -> (head: LinearHead, info: LinearProbeInfo) {
    let gathered = try shardedForward(comm: comm, model: model, split: split, batchSize: batchSize,
                                      progress: progress, phase: progress == nil ? nil : "LP features")
    let H = model.config.hidden, C = model.classes
    var packed = [Double](repeating: 0, count: C * H + C + 3)
    if comm.isRoot, let gathered {
        let probe = try LogisticRegressionCV().fit(features: gathered.features, count: split.count, dimension: H,
                                                   labels: split.labels, classes: C)
        packed.replaceSubrange(0..<(C * H), with: probe.head.weight)
        packed.replaceSubrange((C * H)..<(C * H + C), with: probe.head.bias)
        packed[C * H + C] = probe.bestStrength
        packed[C * H + C + 1] = probe.meanAccuracyPerStrength[probe.bestIndex]
        packed[C * H + C + 2] = Double(probe.iterations)
    }
    // Rank 0 fits alone while the others wait in this broadcast: no stall deadline here.
    packed = try comm.withStallTimeout(nil) { try comm.broadcast(packed, root: 0) }
    let head = LinearHead(classes: C, dimension: H, weight: Array(packed[0..<(C * H)]),
                          bias: Array(packed[(C * H)..<(C * H + C)]))
    return (head, LinearProbeInfo(strength: packed[C * H + C], cv_accuracy: packed[C * H + C + 1],
                                  iterations: Int(packed[C * H + C + 2])))
}

/// The LP head `lpft-mpi ntk --method lp-ft|lp-lora` starts from: the same probe as training,
/// on the pretrained model's features of the probe examples.
func linearProbeHead(for request: NTKLinearProbeRequest) throws -> LinearHead {
    let files = try ModelDirectory(request.modelDirectory)
    let model: SequenceClassifier<Float> = try files.classifier(classes: request.classes, seed: request.seed)
    let split = EncodedSplit(name: "train", examples: request.probeExamples, tokenizer: files.tokenizer, maxLength: request.maxLength)
    return try fitLinearProbe(comm: request.comm, model: model, split: split, batchSize: 64).head
}
