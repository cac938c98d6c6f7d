/// A transformer encoder with a linear classification head: f(x) = V·dropout(φ(x)) + b.
///
/// BERT/RoBERTa (post-LayerNorm, bidirectional; BERTBlock.swift) with φ(x) = final hidden state
/// of the first token; GPT-2 (pre-LayerNorm blocks, causal attention, final ln_f;
/// GPT2Block.swift) with φ(x) = final hidden state of the last real token, as
/// GPT2ForSequenceClassification. Parameters live in one arena (backbone, then LoRA, then head;
/// `BackboneLayout`) and gradients in its twin; every layer is a forward/backward pair of free
/// functions (Layers/). This file holds the orchestration: the embeddings, the loop over the
/// blocks, the head and the loss, and the one reverse loop that every backward runs.
///
/// Usage per step:  zeroGradients() → forward(batch, dropoutSeed:) → loss(labels:) → backward().
/// Backward ACCUMULATES into `parameters.gradients` and marks `touchedRows`.
public final class SequenceClassifier<T: ModelScalar> {
    public private(set) var config: EncoderConfig
    public let classes: Int
    public let lora: LoRAConfig?
    public let parameters: ParameterStore<T>

    /// Which parameters get gradients in backward: backbone weights (FT), LoRA factors, head.
    public var trainBackbone = true
    public var trainLoRA = true
    public var trainHead = true

    /// Arena offsets of one block's tensors (roles as in `BackboneLayout.Layer`).
    struct LayerOffsets {
        var qkvWeight: Int, qkvBias: Int, outWeight: Int, outBias: Int, norm1Gamma: Int, norm1Beta: Int
        var ffnInWeight: Int, ffnInBias: Int, ffnOutWeight: Int, ffnOutBias: Int, norm2Gamma: Int, norm2Beta: Int
        /// Per LoRA target: offsets of A (r, H) and B (H, r).
        var loraA: [Int], loraB: [Int]
    }

    let wordEmbeddings: Int, positionEmbeddings: Int, typeEmbeddings: Int?
    /// The LayerNorm outside the blocks: embeddings.LayerNorm (BERT, RoBERTa) or ln_f (GPT-2).
    let outerNormGamma: Int, outerNormBeta: Int
    var layerOffsets: [LayerOffsets] = []
    let headWeight: Int, headBias: Int

    /// The word-embedding rows that received gradient since zeroGradients(): only they (and
    /// everything outside the word table) can hold a nonzero gradient.
    public let touchedRows: TouchedRows

    /// Arena range of every backbone stage, in arena order: [0] the dense embedding parameters
    /// (after the word table), [l + 1] block l, and for GPT-2 [layers + 1] ln_f. Together they
    /// cover the backbone minus the word table. Backward runs them top to bottom.
    public let backboneStageRanges: [Range<Int>]
    /// What backward has finished with after each stage (`onGradientsReady`): stage 0 the
    /// embeddings with the word table, a block its tensors and its LoRA factors, ln_f its own.
    public let stageGradientRanges: [[Range<Int>]]
    public let headRange: Range<Int>

    /// Activations of the last forward, reused across steps.
    var workspace: Workspace<T>?
    var lastBatch: TokenBatch?
    var lastDropoutSeed: UInt64?
    var lastPruned = true

    // MARK: Construction

    /// Allocates zeroed parameters for `config` plus LoRA factors (if any) and a `classes`-way
    /// head, laid out as `BackboneLayout` describes. The head is the paper's for every family
    /// (`classifier.weight` (C, H), `classifier.bias` (C), dropout before it).
    public init(config: EncoderConfig, classes: Int, lora: LoRAConfig? = nil) {
        self.config = config
        self.classes = classes
        self.lora = lora
        let H = config.hidden
        let layout = BackboneLayout(config: config, lora: lora)
        let head: [(name: String, shape: [Int], group: ParameterGroup)] = [
            ("classifier.weight", [classes, H], .head), ("classifier.bias", [classes], .head),
        ]
        let store = ParameterStore<T>(layout.tensors + head)
        parameters = store

        wordEmbeddings = store.offset(layout.wordEmbeddings)
        positionEmbeddings = store.offset(layout.positionEmbeddings)
        typeEmbeddings = layout.typeEmbeddings.map { store.offset($0) }
        outerNormGamma = store.offset(layout.outerNormGamma)
        outerNormBeta = store.offset(layout.outerNormBeta)
        headWeight = store.offset("classifier.weight")
        headBias = store.offset("classifier.bias")
        headRange = headWeight..<(headBias + classes)
        let wordTable = wordEmbeddings..<(wordEmbeddings + config.vocabularySize * H)
        touchedRows = TouchedRows(table: wordTable, rowLength: H)
        layerOffsets = layout.layers.map { names in
            LayerOffsets(qkvWeight: store.offset(names.qkvWeight), qkvBias: store.offset(names.qkvBias),
                         outWeight: store.offset(names.outWeight), outBias: store.offset(names.outBias),
                         norm1Gamma: store.offset(names.norm1Gamma), norm1Beta: store.offset(names.norm1Beta),
                         ffnInWeight: store.offset(names.ffnInWeight), ffnInBias: store.offset(names.ffnInBias),
                         ffnOutWeight: store.offset(names.ffnOutWeight), ffnOutBias: store.offset(names.ffnOutBias),
                         norm2Gamma: store.offset(names.norm2Gamma), norm2Beta: store.offset(names.norm2Beta),
                         loraA: names.loraA.map { store.offset($0) }, loraB: names.loraB.map { store.offset($0) })
        }
        // The attention reads q, k, v as one (3H, H) projection at qkvWeight and one (3H) bias
        // at qkvBias: the tensors forming them must lie adjacent, in order.
        for names in layout.layers {
            for (parts, count) in [(names.fusedWeights, 3 * H * H), (names.fusedBiases, 3 * H)] {
                let start = store.offset(parts[0])
                let end = parts.reduce(start) { end, part in
                    precondition(store.offset(part) == end, "\(part) does not follow \(parts[0]) in the arena: q, k, v are read fused")
                    return end + store.entry(part)!.count
                }
                precondition(end - start == count, "the fused q, k, v tensors from \(parts[0]) hold \(end - start) values, not \(count)")
            }
        }
        let starts = layout.stageStarts.map { store.offset($0) }
        precondition(starts.first == wordTable.upperBound, "the dense backbone must start after the word table")
        let end = store.range(of: [.backbone]).upperBound
        let stages = starts.indices.map { s in starts[s]..<(s + 1 < starts.count ? starts[s + 1] : end) }
        backboneStageRanges = stages
        stageGradientRanges = stages.indices.map { s in
            if s == 0 { return [wordTable.lowerBound..<stages[0].upperBound] }
            let loraNames = s <= layout.layers.count ? layout.layers[s - 1].loraA + layout.layers[s - 1].loraB : []
            guard !loraNames.isEmpty else { return [stages[s]] }
            let loraEntries = loraNames.map { store.entry($0)! }
            return [stages[s], loraEntries.map(\.offset).min()!..<loraEntries.map { $0.range.upperBound }.max()!]
        }
    }

    /// Initialises the head as Hugging Face does (weight N(0, 0.02²), bias 0) and LoRA as PEFT
    /// (A uniform in ±1/√in, B zero), from `seed`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func initializeHeadAndLoRA(seed: UInt64) {
        var rng = RandomGenerator(seed: seed, stream: 0x4845_4144)  // "HEAD"
        let w = parameters.values.baseAddress! + headWeight
        for i in 0..<(classes * config.hidden) { w[i] = T(0.02 * rng.nextGaussian()) }
        (parameters.values.baseAddress! + headBias).update(repeating: 0, count: classes)
        guard let lora else { return }
        var loraRng = RandomGenerator(seed: seed, stream: 0x4C4F_5241)  // "LORA"
        let bound = 1 / Double(config.hidden).squareRoot()
        for o in layerOffsets {
            for (a, b) in zip(o.loraA, o.loraB) {
                let pa = parameters.values.baseAddress! + a
                for i in 0..<(lora.rank * config.hidden) { pa[i] = T((2 * loraRng.nextDouble() - 1) * bound) }
                (parameters.values.baseAddress! + b).update(repeating: 0, count: lora.rank * config.hidden)
            }
        }
    }

    /// Overrides the dropout probabilities of the loaded configuration (hidden/head and attention).
    public func setDropout(hidden: Double, attention: Double) {
        config.hiddenDropout = hidden
        config.embeddingDropout = hidden
        config.attentionDropout = attention
    }

    @inline(__always) func value(_ offset: Int) -> UnsafeMutablePointer<T> { parameters.values.baseAddress! + offset }
    @inline(__always) func grad(_ offset: Int) -> UnsafeMutablePointer<T> { parameters.gradients.baseAddress! + offset }

    // MARK: Forward

    /// Runs the encoder and the head. `dropoutSeed` nil = eval mode (no dropout). With
    /// `allTokens`, every token's final hidden state is computed (for mean pooling); otherwise
    /// the last block computes only the feature token of each example (exactly the same φ).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func forward(_ batch: TokenBatch, dropoutSeed: UInt64? = nil, allTokens: Bool = false) {
        let B = batch.batchSize, T_ = batch.seqLen, H = config.hidden
        if workspace == nil || !workspace!.fits(batch: B, seqLen: T_) {
            workspace = Workspace<T>(config: config, classes: classes, lora: lora, batch: B, seqLen: T_)
        }
        let ws = workspace!
        ws.setShape(batch: B, seqLen: T_)
        lastBatch = batch
        lastDropoutSeed = dropoutSeed
        lastPruned = !allTokens
        let training = dropoutSeed != nil
        // Independent dropout streams per site: 0 embeddings, 1 + l block l, 10 000 the head
        // (eval mode draws nothing).
        func siteSeed(_ site: Int) -> UInt64 {
            guard let dropoutSeed else { return 0 }
            var g = RandomGenerator(seed: dropoutSeed, stream: UInt64(site))
            return g.next()
        }
        batch.ids.withUnsafeBufferPointer { ids in
        batch.typeIds.withUnsafeBufferPointer { types in
        batch.positionIds.withUnsafeBufferPointer { positions in
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            embeddingsForward(ids: ids.baseAddress!, types: types.baseAddress!, positions: positions.baseAddress!,
                              ws: ws, training: training, seed: siteSeed(0))
            for l in 0..<config.layers {
                let queryPositions = lastPruned && l == config.layers - 1 ? featurePositions.baseAddress! : nil
                if config.family == .gpt2 {
                    gpt2BlockForward(l, ws: ws, lengths: lengths.baseAddress!, queryPositions: queryPositions,
                                     training: training, seed: siteSeed(1 + l))
                } else {
                    bertBlockForward(l, ws: ws, lengths: lengths.baseAddress!, queryPositions: queryPositions,
                                     training: training, seed: siteSeed(1 + l))
                }
            }
        }}}}}
        if config.family == .gpt2 { gpt2FinalNormForward(ws: ws) }
        // Features φ: the feature token's final hidden state (compact rows when pruned).
        for b in 0..<B {
            let row = lastPruned ? b : b * T_ + Int(batch.featurePositions[b])
            (ws.features + b * H).update(from: ws.output + row * H, count: H)
        }
        headForward(training: training, seed: siteSeed(10_000))
    }

    /// Embeddings into hidden[0] (N, H): word + position (+ type) rows, then (BERT, RoBERTa)
    /// LayerNorm, then dropout.
    private func embeddingsForward(ids: UnsafePointer<Int32>, types: UnsafePointer<Int32>, positions: UnsafePointer<Int32>,
                                   ws: Workspace<T>, training: Bool, seed: UInt64) {
        let N = ws.batch * ws.seqLen, H = config.hidden
        let normed = config.family != .gpt2
        embeddingForward(normed ? ws.embeddingSum : ws.hidden[0], ids: ids, positions: positions, types: types,
                         word: value(wordEmbeddings), position: value(positionEmbeddings),
                         type: typeEmbeddings.map { value($0) }, n: N, dim: H)
        if normed {
            normForward(ws.hidden[0], mean: ws.embeddingMean, rstd: ws.embeddingRstd, ws.embeddingSum,
                        gamma: outerNormGamma, beta: outerNormBeta, rows: N)
        }
        if training && config.embeddingDropout > 0 {
            dropoutMask(ws.embeddingMask, rows: N, dim: H, p: config.embeddingDropout, seed: seed)
            applyDropout(ws.hidden[0], mask: ws.embeddingMask, count: N * H, scale: T(1 / (1 - config.embeddingDropout)))
        }
    }

    private func headForward(training: Bool, seed: UInt64) {
        let ws = workspace!
        let B = ws.batch, H = config.hidden
        ws.featuresDropped.update(from: ws.features, count: B * H)
        if training && config.hiddenDropout > 0 {
            dropoutMask(ws.featureMask, rows: B, dim: H, p: config.hiddenDropout, seed: seed)
            applyDropout(ws.featuresDropped, mask: ws.featureMask, count: B * H, scale: T(1 / (1 - config.hiddenDropout)))
        }
        linearForward(ws.logits, ldy: classes, ws.featuresDropped, ldx: H, value(headWeight), value(headBias),
                      n: B, inDim: H, outDim: classes)
    }

    // MARK: Outputs of the last forward

    public var batchSize: Int { workspace?.batch ?? 0 }

    /// φ of the last forward, (B, H) row-major.
    public var features: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: workspace!.features, count: workspace!.batch * config.hidden)
    }

    /// Logits of the last forward, (B, C) row-major.
    public var logits: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: workspace!.logits, count: workspace!.batch * classes)
    }

    /// Final hidden states of every token, (B·T, H); only after forward(allTokens: true).
    public var tokenStates: UnsafeBufferPointer<T> {
        precondition(!lastPruned, "tokenStates needs forward(allTokens: true)")
        return UnsafeBufferPointer(start: workspace!.output, count: workspace!.batch * workspace!.seqLen * config.hidden)
    }

    /// Mean cross-entropy of the last forward's logits against `labels`; stores
    /// dL/dlogits = (softmax − onehot)/B for backward().
    /// - gradientScale: multiplies the stored gradient (not the returned mean loss), so that
    ///   backward passes over micro-batches of different sizes add up to the gradient of the
    ///   mean over all of them (gradient accumulation, uneven shards).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    @discardableResult
    public func loss(labels: [Int], gradientScale: Double = 1) -> Double {
        let ws = workspace!
        let B = ws.batch, C = classes
        precondition(labels.count == B && labels.allSatisfy { $0 >= 0 && $0 < C })
        let loss = crossEntropyForward(dlogits: ws.logitGradient, logits: ws.logits, labels: labels, batch: B, classes: C)
        if gradientScale != 1 {
            let s = T(gradientScale)
            for i in 0..<(B * C) { ws.logitGradient[i] *= s }
        }
        return loss
    }

    // MARK: Backward

    /// Backpropagates the gradient stored by loss(labels:) into the parameter gradients.
    ///
    /// - onGradientsReady: called as backward finishes with parameters, top to bottom — the head,
    ///   then every stage of `backboneStageRanges` that runs — with the arena ranges whose
    ///   gradients are final from then on (a data-parallel caller can start reducing them while
    ///   the stages below run). Together the calls cover every gradient backward wrote.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func backward(onGradientsReady: ((_ finished: [Range<Int>]) -> Void)? = nil) {
        let ws = workspace!
        let B = ws.batch, H = config.hidden
        // Head: logits = φ_drop·Vᵀ + b.
        ws.featureGradient.update(repeating: 0, count: B * H)
        linearBackward(dx: ws.featureGradient, ldx: H, dw: trainHead ? grad(headWeight) : nil,
                       db: trainHead ? grad(headBias) : nil, dy: ws.logitGradient, ldy: classes,
                       x: ws.featuresDropped, w: value(headWeight), n: B, inDim: H, outDim: classes, ones: ws.ones)
        if lastDropoutSeed != nil && config.hiddenDropout > 0 {
            applyDropout(ws.featureGradient, mask: ws.featureMask, count: B * H, scale: T(1 / (1 - config.hiddenDropout)))
        }
        onGradientsReady?([headRange])
        if trainBackbone || (lora != nil && trainLoRA) {
            backward(featureGradient: ws.featureGradient, onGradientsReady: onGradientsReady)
        }
    }

    /// Backpropagates dL/dφ (B, H) through the encoder into the backbone and LoRA gradients
    /// (as enabled by trainBackbone / trainLoRA). The LoRA eNTK calls this with dφ = V_c
    /// (the backbone eNTK runs `backwardStages`, which leaves the word table alone).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func backward(featureGradient: UnsafePointer<T>) {
        backward(featureGradient: featureGradient, onGradientsReady: nil)
    }

    /// backward(featureGradient:) reporting finished stages as backward() describes.
    func backward(featureGradient: UnsafePointer<T>, onGradientsReady: (([Range<Int>]) -> Void)?) {
        let ws = workspace!, batch = lastBatch!
        let B = ws.batch, T_ = ws.seqLen, H = config.hidden
        // dφ into the feature rows of the top stage's output gradient (compact rows when pruned).
        let top = backboneStageRanges.count - 1
        ws.gradOut.update(repeating: 0, count: stageOutputRows(top) * H)
        for b in 0..<B {
            let row = lastPruned ? b : b * T_ + Int(batch.featurePositions[b])
            let dst = ws.gradOut + row * H, src = featureGradient + b * H
            for j in 0..<H { dst[j] += src[j] }
        }
        // With the backbone frozen (LoRA), block 0's LoRA gradient comes from its dqkv: nothing
        // below it is needed.
        backwardThroughStages(top: top, bottom: trainBackbone ? 0 : 1, saveStage: nil, save: nil,
                              wordTable: true, onGradientsReady: onGradientsReady)
    }

    /// Backpropagates through stages `top` down to `bottom` (top ≥ bottom ≥ 0) of the last
    /// eval-mode forward, ACCUMULATING the gradients of those stages' parameters (and, for
    /// stage 0, the position/type tables and `embeddingGradient`; the word table is skipped):
    /// the eNTK's per-chunk backward (stages in `backboneStageRanges`).
    ///
    /// - startGradient: dL/d(output of stage top), `stageOutputRows(top)` × H. For the top
    ///   stage this is dφ (B, H) of a pruned forward — the same input as `backward(featureGradient:)`.
    /// - saveStage, save: when set (bottom − 1 ≤ saveStage ≤ top), dL/d(output of saveStage) is
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
        precondition(0 <= bottom && bottom <= top && top < backboneStageRanges.count,
                     "stages must satisfy 0 ≤ bottom ≤ top < backboneStageRanges.count")
        precondition(saveStage.map { $0 >= bottom - 1 && $0 <= top && $0 >= 0 } ?? true, "saveStage outside bottom − 1…top")
        workspace!.gradOut.update(from: startGradient, count: stageOutputRows(top) * config.hidden)
        backwardThroughStages(top: top, bottom: bottom, saveStage: saveStage, save: save, wordTable: false, onGradientsReady: nil)
    }

    /// The one reverse loop. On entry ws.gradOut holds dL/d(output of stage `top`); stages
    /// top…max(bottom, 1) run block by block (GPT-2's ln_f first), then stage 0 (the
    /// embeddings, into the word table when `wordTable`) when bottom = 0. The input gradient of
    /// a stage is computed only when a stage below runs or it is saved (see backwardStages).
    func backwardThroughStages(top: Int, bottom: Int, saveStage: Int?, save: UnsafeMutablePointer<T>?,
                               wordTable: Bool, onGradientsReady: (([Range<Int>]) -> Void)?) {
        let ws = workspace!, batch = lastBatch!
        let H = config.hidden
        let training = lastDropoutSeed != nil
        batch.lengths.withUnsafeBufferPointer { lengths in
        batch.featurePositions.withUnsafeBufferPointer { featurePositions in
            for stage in stride(from: top, through: max(bottom, 1), by: -1) {
                if stage == saveStage, let save { save.update(from: ws.gradOut, count: stageOutputRows(stage) * H) }
                let needInputGradient = stage - 1 >= bottom || saveStage == stage - 1
                if stage > config.layers {
                    gpt2FinalNormBackward(ws: ws, needInputGradient: needInputGradient)
                } else {
                    let l = stage - 1
                    let queryPositions = lastPruned && l == config.layers - 1 ? featurePositions.baseAddress! : nil
                    if config.family == .gpt2 {
                        gpt2BlockBackward(l, ws: ws, lengths: lengths.baseAddress!, queryPositions: queryPositions,
                                          training: training, needInputGradient: needInputGradient)
                    } else {
                        bertBlockBackward(l, ws: ws, lengths: lengths.baseAddress!, queryPositions: queryPositions,
                                          training: training, needInputGradient: needInputGradient)
                    }
                }
                swap(&ws.gradOut, &ws.gradIn)  // this stage's input gradient is the next one's output gradient
                onGradientsReady?(stageGradientRanges[stage])
            }
        }}
        // ws.gradOut now holds dL/dhidden[reached]: the input gradient of the lowest stage run
        // (or the start gradient when only stage 0 runs).
        let reached = bottom == 0 ? 0 : bottom - 1
        if saveStage == reached, let save { save.update(from: ws.gradOut, count: stageOutputRows(reached) * H) }
        guard bottom == 0 else { return }
        embeddingsBackward(ws: ws, batch: batch, training: training, wordTable: wordTable)
        onGradientsReady?(stageGradientRanges[0])
    }

    /// Backward of embeddingsForward: ws.gradOut = dL/dhidden[0] (N, H) → dropout → (BERT,
    /// RoBERTa) LayerNorm → ws.embeddingGradient = dL/d(embedding sum) → the position and type
    /// tables and, with `wordTable`, the word table.
    private func embeddingsBackward(ws: Workspace<T>, batch: TokenBatch, training: Bool, wordTable: Bool) {
        let N = ws.batch * ws.seqLen, H = config.hidden
        if training && config.embeddingDropout > 0 {
            applyDropout(ws.gradOut, mask: ws.embeddingMask, count: N * H, scale: T(1 / (1 - config.embeddingDropout)))
        }
        if config.family == .gpt2 {
            ws.embeddingGradient.update(from: ws.gradOut, count: N * H)
        } else {
            ws.embeddingGradient.update(repeating: 0, count: N * H)
            normBackward(dx: ws.embeddingGradient, dout: ws.gradOut, x: ws.embeddingSum, mean: ws.embeddingMean,
                         rstd: ws.embeddingRstd, gamma: outerNormGamma, beta: outerNormBeta, rows: N)
        }
        scatterEmbeddingGradient(batch, ws: ws, wordTable: wordTable)
    }

    /// Adds ws.embeddingGradient (dL/d(embedding sum), (B·T, H)) of the real tokens into the
    /// position and type tables' gradients and, with `wordTable`, the word table's, marking
    /// the touched rows.
    func scatterEmbeddingGradient(_ batch: TokenBatch, ws: Workspace<T>, wordTable: Bool) {
        let B = ws.batch, T_ = ws.seqLen
        var realRows: [Int] = []
        realRows.reserveCapacity(B * T_)
        for b in 0..<B { for t in 0..<Int(batch.lengths[b]) { realRows.append(b * T_ + t) } }
        batch.ids.withUnsafeBufferPointer { ids in
        batch.positionIds.withUnsafeBufferPointer { positions in
        batch.typeIds.withUnsafeBufferPointer { types in
            embeddingBackward(dword: wordTable ? grad(wordEmbeddings) : nil,
                              dposition: grad(positionEmbeddings), dtype: typeEmbeddings.map { grad($0) },
                              dout: ws.embeddingGradient, ids: ids.baseAddress!, positions: positions.baseAddress!,
                              types: types.baseAddress!, rows: realRows, dim: config.hidden)
            if wordTable { for r in realRows { touchedRows.mark(Int(ids[r])) } }
        }}}
    }

    /// Rows of the gradient w.r.t. the output of `stage` after the last forward: the stages
    /// above the last block's input (the pruned block's output, GPT-2's ln_f) have one row per
    /// example (the feature token) when the forward was pruned, the others B·T.
    public func stageOutputRows(_ stage: Int) -> Int {
        let ws = workspace!
        return stage >= config.layers && lastPruned ? ws.batch : ws.batch * ws.seqLen
    }

    /// The stage holding arena offset `offset` of the backbone (word table excluded).
    public func backboneStage(containing offset: Int) -> Int? {
        backboneStageRanges.firstIndex { $0.contains(offset) }
    }

    // MARK: Gradients

    /// Arena range of the word-embedding table and its row length (`touchedRows`' table).
    public var wordEmbeddingTable: (range: Range<Int>, rowLength: Int) { (touchedRows.table, touchedRows.rowLength) }

    /// Zeroes every gradient and forgets the touched rows. Word-embedding rows no backward
    /// touched since the last call are already zero and are skipped (the table is half of
    /// MiniLM's parameters).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func zeroGradients() {
        let g = parameters.gradients.baseAddress!
        for piece in touchedRows.gradientRanges(within: 0..<parameters.count) {
            Parallel.forRanges(piece.count, grain: 1 << 16) { r in
                (g + piece.lowerBound + r.lowerBound).update(repeating: 0, count: r.count)
            }
        }
        touchedRows.removeAll()
    }

    /// dL/d(embedding sum) of the last backward, (B·T, H): row b·T + t is the gradient that
    /// flowed into word, position and type embedding rows of token t of example b.
    public var embeddingGradient: UnsafeBufferPointer<T> {
        UnsafeBufferPointer(start: workspace!.embeddingGradient, count: workspace!.batch * workspace!.seqLen * config.hidden)
    }
}

extension SequenceClassifier {
    /// Floating-point operations of one forward (and, with `training`, forward + backward) on a
    /// batch of B full-length sequences of T tokens, as this implementation performs them
    /// (pruned last layer; backbone and head gradients per the train flags).
    public func flops(batch B: Int, seqLen T_: Int, training: Bool) -> Double {
        let H = Double(config.hidden), I = Double(config.intermediate), T = Double(T_), b = Double(B)
        let heads = Double(config.heads), d = H / heads
        let rank = Double(lora?.rank ?? 0), loraCount = Double(lora?.targets.count ?? 0)
        var forward = 0.0, backward = 0.0
        for l in 0..<config.layers {
            let pruned = l == config.layers - 1
            let tokens = b * T, rows = pruned ? b : tokens, queries = pruned ? 1 : T
            let qkv = 2 * tokens * H * 3 * H
            let loraF = loraCount * 2 * tokens * rank * H * 2
            let attention = b * heads * queries * T * d * 4  // scores and context
            let dense = 2 * rows * H * H + 2 * rows * H * I * 2
            forward += qkv + loraF + attention + dense
            // Backward: dX and dW for every product (dW only when the backbone trains).
            let weightFactor = trainBackbone ? 2.0 : 1.0
            backward += (qkv + dense) * weightFactor + attention * 2 + loraF * 2
        }
        let head = 2 * b * H * Double(classes)
        return training ? forward + head + backward + 2 * head : forward + head
    }
}
