/// Backward through a slice of the encoder, for per-example Jacobians computed one parameter
/// chunk at a time (the empirical NTK).
///
/// The backbone is seen as stages in arena order: stage 0 = the dense embedding parameters
/// (position and token-type tables, embedding LayerNorm; the word table is left to the sparse
/// exact computation), stage l + 1 = encoder layer l. The output of stage s is hidden[s]
/// (hidden[0] = embedding output, hidden[l + 1] = output of layer l). A chunk of parameters in
/// backward order covers stages top…bottom; backpropagating only those stages, starting from
/// the gradient w.r.t. hidden[top] saved by the previous chunk, costs one backward per
/// (example, class) over all chunks instead of one per chunk.
extension SequenceClassifier {
    /// Arena range of every backbone stage: [0] the dense embedding parameters (after the word
    /// table), [l + 1] encoder layer l. Together they cover the backbone minus the word table.
    /// BERT/RoBERTa layout (GPT-2 puts ln_f after the blocks and is not staged).
    public var backboneStageRanges: [Range<Int>] {
        precondition(config.family != .gpt2, "backbone stages follow the BERT/RoBERTa layout")
        var starts = [wordEmbeddingTable.range.upperBound]
        for l in 0..<config.layers { starts.append(layerOffsets[l].qkvWeight) }
        let end = parameters.range(of: [.backbone]).upperBound
        return (0...config.layers).map { s in starts[s]..<(s < config.layers ? starts[s + 1] : end) }
    }

    /// Rows of the gradient w.r.t. hidden[stage] after a forward of `batch`: the top stage of a
    /// pruned forward has one row per example (the feature token), the others B·T.
    public func stageOutputRows(_ stage: Int) -> Int {
        let ws = workspace!
        return stage == config.layers && lastPruned ? ws.batch : ws.batch * ws.seqLen
    }

    /// Backpropagates through stages `top` down to `bottom` (top ≥ bottom ≥ 0) of the last
    /// eval-mode forward, ACCUMULATING the gradients of those stages' parameters (and, for
    /// stage 0, the position/type tables and `embeddingGradient`; the word table is skipped).
    ///
    /// - startGradient: dL/dhidden[top], `stageOutputRows(top)` × H. For top = layers this is
    ///   dφ (B, H) of a pruned forward — the same input as `backward(featureGradient:)`.
    /// - saveStage, save: when set (bottom − 1 ≤ saveStage ≤ top), dL/dhidden[saveStage] is
    ///   copied into `save` (`stageOutputRows(saveStage)` × H) — the start of the next chunk.
    ///
    /// Stages top…bottom together give exactly the gradients `backward(featureGradient:)`
    /// computes for their parameters. Needs trainBackbone and eval mode (no dropout).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func backwardStages(startGradient: UnsafePointer<T>, top: Int, bottom: Int,
                               saveStage: Int? = nil, save: UnsafeMutablePointer<T>? = nil) {
        precondition(lastDropoutSeed == nil, "backwardStages needs an eval-mode forward (dropoutSeed nil)")
        precondition(trainBackbone, "backwardStages computes backbone gradients; set trainBackbone")
        precondition(config.family != .gpt2, "backwardStages follows the BERT/RoBERTa layout (GPT-2: use backward(featureGradient:))")
        precondition(0 <= bottom && bottom <= top && top <= config.layers, "stages must satisfy 0 ≤ bottom ≤ top ≤ layers")
        precondition(saveStage.map { $0 >= bottom - 1 && $0 <= top && $0 >= 0 } ?? true, "saveStage outside bottom − 1…top")
        let ws = workspace!, batch = lastBatch!
        let B = ws.batch, T_ = ws.seqLen, H = config.hidden
        let N = B * T_
        ws.gradOut.update(from: startGradient, count: stageOutputRows(top) * H)
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            for stage in stride(from: top, through: max(bottom, 1), by: -1) {
                if stage == saveStage, let save { save.update(from: ws.gradOut, count: stageOutputRows(stage) * H) }
                let l = stage - 1
                let pruned = lastPruned && l == config.layers - 1
                // The input gradient is needed below this layer, or as the next chunk's start.
                let needInputGradient = stage - 1 >= bottom || saveStage == stage - 1
                layerBackward(l, ws: ws, lengths: lengths.baseAddress!,
                              queryPositions: pruned ? featurePositions.baseAddress! : nil,
                              training: false, hiddenScale: 1,
                              needInputGradient: needInputGradient)
                swap(&ws.gradOut, &ws.gradIn)
            }
        }}
        // ws.gradOut now holds dL/dhidden[reached]: the input gradient of the lowest layer run
        // (or the start gradient when only stage 0 runs).
        let reached = bottom == 0 ? 0 : bottom - 1
        if saveStage == reached, let save { save.update(from: ws.gradOut, count: stageOutputRows(reached) * H) }
        if bottom >= 1 { return }
        // Stage 0: embedding LayerNorm → position and type tables (as backward(featureGradient:)
        // does in eval mode); the word table's share stays in embeddingGradient.
        ws.embeddingGradient.update(repeating: 0, count: N * H)
        layerNormBackward(dx: ws.embeddingGradient, dgamma: grad(outerNormGamma), dbeta: grad(outerNormBeta),
                          dout: ws.gradOut, x: ws.embeddingSum, mean: ws.embeddingMean, rstd: ws.embeddingRstd,
                          gamma: value(outerNormGamma), n: N, dim: H)
        let skipping = skipWordEmbeddingGradient
        skipWordEmbeddingGradient = true
        scatterEmbeddingGradient(batch, ws: ws)
        skipWordEmbeddingGradient = skipping
    }

    /// The stage holding arena offset `offset` of the backbone (word table excluded).
    public func backboneStage(containing offset: Int) -> Int? {
        backboneStageRanges.firstIndex { $0.contains(offset) }
    }
}
