import Foundation
import Model

/// Eval-mode features (N, H) and logits (N, C) of a split, gathered on rank 0 in split order
/// (nil on other ranks). The examples are sorted by length and cut into batches (little
/// padding); rank r computes batches r, r + P, r + 2P, … Every batch is the same whatever the
/// number of ranks, so the features — and the linear probe fitted on them — do not depend on P.
func shardedForward(comm: Communicator, model: SequenceClassifier<Float>, split: EncodedSplit, batchSize: Int,
                    progress: ProgressReporter? = nil, phase: String? = nil) throws -> (features: [Float], logits: [Float])? {
    let N = split.count, P = comm.size, r = comm.rank
    let H = model.config.hidden, C = model.classes
    let byLength = (0..<N).sorted { (split.encodings[$0].ids.count, $0) < (split.encodings[$1].ids.count, $1) }
    let batches = stride(from: 0, to: N, by: batchSize).map { byLength[$0..<min(N, $0 + batchSize)] }
    func examples(of rank: Int) -> [Int] { stride(from: rank, to: batches.count, by: P).flatMap { batches[$0] } }
    let local = examples(of: r)
    var features = [Float](repeating: 0, count: local.count * H)
    var logits = [Float](repeating: 0, count: local.count * C)
    var done = 0
    let t0 = Date()
    for b in stride(from: r, to: batches.count, by: P) {
        let indices = batches[b]
        model.forward(split.batch(indices, config: model.config))
        for k in 0..<indices.count {
            for j in 0..<H { features[(done + k) * H + j] = model.features[k * H + j] }
            for c in 0..<C { logits[(done + k) * C + c] = model.logits[k * C + c] }
        }
        done += indices.count
        if let phase, let progress {
            let rate = Double(done * P) / max(Date().timeIntervalSince(t0), 1e-9)
            progress.update(String(format: "%@: %d/%d  %.0f ex/s", phase, min(done * P, N), N, rate))
        }
    }
    let allFeatures = try comm.gatherv(features, root: 0)
    let allLogits = try comm.gatherv(logits, root: 0)
    guard let allFeatures, let allLogits else { return nil }
    // Rank 0 received rank 0's examples, then rank 1's, …: put them back in split order.
    var orderedFeatures = [Float](repeating: 0, count: N * H), orderedLogits = [Float](repeating: 0, count: N * C)
    for (k, i) in (0..<P).flatMap(examples(of:)).enumerated() {
        for j in 0..<H { orderedFeatures[i * H + j] = allFeatures[k * H + j] }
        for c in 0..<C { orderedLogits[i * C + c] = allLogits[k * C + c] }
    }
    return (orderedFeatures, orderedLogits)
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
