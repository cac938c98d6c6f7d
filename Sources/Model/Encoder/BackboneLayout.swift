/// Names, shapes and arena order of a family's backbone and LoRA tensors, by the role each
/// plays in the forward pass. Names are Hugging Face's (so checkpoints load by name); every
/// weight is stored in our (out, in) orientation.
///
/// BERT / RoBERTa: `embeddings.*`, `encoder.layer.N.*`; query, key and value weights are
/// adjacent in the arena (then their biases), so together they are one fused (3H, H) projection.
///
/// GPT-2: `wte`, `wpe`, `h.N.*`, `ln_f`. Its Conv1D weights are stored [in, out] in checkpoints
/// and transposed on load: `h.N.attn.c_attn.weight` is kept as ONE fused (3H, H) tensor (rows
/// 0..<H query, H..<2H key, 2H..<3H value: the column blocks of Hugging Face's [H, 3H]), and
/// `attn.c_proj` (H, H), `mlp.c_fc` (I, H), `mlp.c_proj` (H, I) likewise. LoRA factors of a
/// fused part are named `h.N.attn.c_attn.query.lora_A` (r, H) / `.lora_B` (H, r).
struct BackboneLayout {
    /// Arena names of one block's tensors, by role.
    ///   norm1: attention.output.LayerNorm (BERT, after attention) | ln_1 (GPT-2, before it);
    ///   norm2: output.LayerNorm (BERT, after the FFN) | ln_2 (GPT-2, before the MLP).
    struct Layer {
        var qkvWeight: String, qkvBias: String, outWeight: String, outBias: String
        var norm1Gamma: String, norm1Beta: String
        var ffnInWeight: String, ffnInBias: String, ffnOutWeight: String, ffnOutBias: String
        var norm2Gamma: String, norm2Beta: String
        /// LoRA A and B names, one per target of the LoRA config (empty without LoRA).
        var loraA: [String] = [], loraB: [String] = []
        /// The tensors that together form the fused (3H, H) q,k,v weight and its (3H) bias, in
        /// order: query, key, value (BERT, RoBERTa) or the one c_attn tensor (GPT-2). The
        /// attention reads them as one block starting at qkvWeight / qkvBias, so they must be
        /// adjacent in the arena (SequenceClassifier checks it once, at construction).
        var fusedWeights: [String] = [], fusedBiases: [String] = []
    }

    /// Backbone tensors then LoRA tensors, in arena order.
    var tensors: [(name: String, shape: [Int], group: ParameterGroup)] = []
    var wordEmbeddings: String, positionEmbeddings: String, typeEmbeddings: String?
    /// The one LayerNorm outside the blocks: embeddings.LayerNorm (BERT, RoBERTa: after the
    /// embeddings) or ln_f (GPT-2: after the last block).
    var outerNormGamma: String, outerNormBeta: String
    var layers: [Layer] = []
    /// First tensor of every backbone stage after the word table, in arena order: the dense
    /// embedding parameters, each block, and (GPT-2) ln_f. Backward runs the stages in reverse
    /// (SequenceClassifier.backwardThroughStages), and the eNTK chunks its parameters by them.
    var stageStarts: [String] = []
    /// Prefixes a checkpoint may put before every backbone name (task checkpoints carry them).
    var checkpointPrefixes: [String]
    /// Tensors whose checkpoint layout is the transpose of ours ([in, out], GPT-2's Conv1D).
    var transposedInCheckpoint: Set<String> = []

    init(config: EncoderConfig, lora: LoRAConfig?) {
        switch config.family {
        case .bert, .roberta: self = Self.bert(config, lora: lora)
        case .gpt2: self = Self.gpt2(config, lora: lora)
        }
    }

    private init(wordEmbeddings: String, positionEmbeddings: String, typeEmbeddings: String?,
                 outerNormGamma: String, outerNormBeta: String, checkpointPrefixes: [String]) {
        self.wordEmbeddings = wordEmbeddings
        self.positionEmbeddings = positionEmbeddings
        self.typeEmbeddings = typeEmbeddings
        self.outerNormGamma = outerNormGamma
        self.outerNormBeta = outerNormBeta
        self.checkpointPrefixes = checkpointPrefixes
    }

    private static func bert(_ config: EncoderConfig, lora: LoRAConfig?) -> BackboneLayout {
        let H = config.hidden, I = config.intermediate
        var layout = BackboneLayout(
            wordEmbeddings: "embeddings.word_embeddings.weight", positionEmbeddings: "embeddings.position_embeddings.weight",
            typeEmbeddings: config.typeVocabularySize > 0 ? "embeddings.token_type_embeddings.weight" : nil,
            outerNormGamma: "embeddings.LayerNorm.weight", outerNormBeta: "embeddings.LayerNorm.bias",
            checkpointPrefixes: ["", "bert.", "roberta."])
        layout.tensors = [
            (layout.wordEmbeddings, [config.vocabularySize, H], .backbone),
            (layout.positionEmbeddings, [config.maxPositions, H], .backbone),
        ]
        if let type = layout.typeEmbeddings {
            layout.tensors.append((type, [config.typeVocabularySize, H], .backbone))
        }
        layout.tensors += [(layout.outerNormGamma, [H], .backbone), (layout.outerNormBeta, [H], .backbone)]
        for l in 0..<config.layers {
            let p = "encoder.layer.\(l)."
            // query, key, value weights adjacent (then their biases) form one fused (3H, H) projection.
            layout.tensors += [
                (p + "attention.self.query.weight", [H, H], .backbone),
                (p + "attention.self.key.weight", [H, H], .backbone),
                (p + "attention.self.value.weight", [H, H], .backbone),
                (p + "attention.self.query.bias", [H], .backbone),
                (p + "attention.self.key.bias", [H], .backbone),
                (p + "attention.self.value.bias", [H], .backbone),
                (p + "attention.output.dense.weight", [H, H], .backbone),
                (p + "attention.output.dense.bias", [H], .backbone),
                (p + "attention.output.LayerNorm.weight", [H], .backbone),
                (p + "attention.output.LayerNorm.bias", [H], .backbone),
                (p + "intermediate.dense.weight", [I, H], .backbone),
                (p + "intermediate.dense.bias", [I], .backbone),
                (p + "output.dense.weight", [H, I], .backbone),
                (p + "output.dense.bias", [H], .backbone),
                (p + "output.LayerNorm.weight", [H], .backbone),
                (p + "output.LayerNorm.bias", [H], .backbone),
            ]
            layout.layers.append(Layer(
                qkvWeight: p + "attention.self.query.weight", qkvBias: p + "attention.self.query.bias",
                outWeight: p + "attention.output.dense.weight", outBias: p + "attention.output.dense.bias",
                norm1Gamma: p + "attention.output.LayerNorm.weight", norm1Beta: p + "attention.output.LayerNorm.bias",
                ffnInWeight: p + "intermediate.dense.weight", ffnInBias: p + "intermediate.dense.bias",
                ffnOutWeight: p + "output.dense.weight", ffnOutBias: p + "output.dense.bias",
                norm2Gamma: p + "output.LayerNorm.weight", norm2Beta: p + "output.LayerNorm.bias",
                fusedWeights: ["query", "key", "value"].map { p + "attention.self.\($0).weight" },
                fusedBiases: ["query", "key", "value"].map { p + "attention.self.\($0).bias" }))
        }
        layout.stageStarts = [layout.positionEmbeddings] + layout.layers.map(\.qkvWeight)
        layout.addLoRA(lora, hidden: H) { l, target in "encoder.layer.\(l).attention.self.\(target.rawValue)." }
        return layout
    }

    private static func gpt2(_ config: EncoderConfig, lora: LoRAConfig?) -> BackboneLayout {
        let H = config.hidden, I = config.intermediate
        var layout = BackboneLayout(wordEmbeddings: "wte.weight", positionEmbeddings: "wpe.weight", typeEmbeddings: nil,
                                    outerNormGamma: "ln_f.weight", outerNormBeta: "ln_f.bias",
                                    checkpointPrefixes: ["", "transformer."])
        layout.tensors = [
            (layout.wordEmbeddings, [config.vocabularySize, H], .backbone),
            (layout.positionEmbeddings, [config.maxPositions, H], .backbone),
        ]
        for l in 0..<config.layers {
            let p = "h.\(l)."
            layout.tensors += [
                (p + "ln_1.weight", [H], .backbone),
                (p + "ln_1.bias", [H], .backbone),
                (p + "attn.c_attn.weight", [3 * H, H], .backbone),
                (p + "attn.c_attn.bias", [3 * H], .backbone),
                (p + "attn.c_proj.weight", [H, H], .backbone),
                (p + "attn.c_proj.bias", [H], .backbone),
                (p + "ln_2.weight", [H], .backbone),
                (p + "ln_2.bias", [H], .backbone),
                (p + "mlp.c_fc.weight", [I, H], .backbone),
                (p + "mlp.c_fc.bias", [I], .backbone),
                (p + "mlp.c_proj.weight", [H, I], .backbone),
                (p + "mlp.c_proj.bias", [H], .backbone),
            ]
            layout.transposedInCheckpoint.formUnion([p + "attn.c_attn.weight", p + "attn.c_proj.weight",
                                                     p + "mlp.c_fc.weight", p + "mlp.c_proj.weight"])
            layout.layers.append(Layer(
                qkvWeight: p + "attn.c_attn.weight", qkvBias: p + "attn.c_attn.bias",
                outWeight: p + "attn.c_proj.weight", outBias: p + "attn.c_proj.bias",
                norm1Gamma: p + "ln_1.weight", norm1Beta: p + "ln_1.bias",
                ffnInWeight: p + "mlp.c_fc.weight", ffnInBias: p + "mlp.c_fc.bias",
                ffnOutWeight: p + "mlp.c_proj.weight", ffnOutBias: p + "mlp.c_proj.bias",
                norm2Gamma: p + "ln_2.weight", norm2Beta: p + "ln_2.bias",
                fusedWeights: [p + "attn.c_attn.weight"], fusedBiases: [p + "attn.c_attn.bias"]))
        }
        layout.tensors += [(layout.outerNormGamma, [H], .backbone), (layout.outerNormBeta, [H], .backbone)]
        layout.stageStarts = [layout.positionEmbeddings] + layout.layers.map(\.norm1Gamma) + [layout.outerNormGamma]
        layout.addLoRA(lora, hidden: H) { l, target in "h.\(l).attn.c_attn.\(target.rawValue)." }
        return layout
    }

    /// The name under which `file` holds the backbone tensor `name`: the first of the
    /// checkpoint prefixes that the file has (loading and export agree on it).
    func checkpointName(of name: String, in file: SafetensorsFile) -> String? {
        checkpointPrefixes.map { $0 + name }.first { file.info($0) != nil }
    }

    /// Appends A (r, H) and B (H, r) for every layer and target, after all backbone tensors.
    private mutating func addLoRA(_ lora: LoRAConfig?, hidden H: Int, prefix: (Int, LoRATarget) -> String) {
        guard let lora else { return }
        for l in layers.indices {
            for target in lora.targets {
                let p = prefix(l, target)
                tensors += [(p + "lora_A", [lora.rank, H], .lora), (p + "lora_B", [H, lora.rank], .lora)]
                layers[l].loraA.append(p + "lora_A")
                layers[l].loraB.append(p + "lora_B")
            }
        }
    }
}
