import Foundation

/// A classifier's LoRA factors in PEFT's adapter layout: adapter_config.json and
/// adapter_model.safetensors with tensors `base_model.model.<module path>.lora_A.weight` [r, in]
/// and `.lora_B.weight` [out, r], the module paths those of transformers' AutoModel (no
/// "bert."/"roberta."/"transformer." prefix). PEFT adds scaling·B·A to the module's output.
///
/// BERT / RoBERTa: each target (query, value) is its own Linear, so the factors are ours as
/// they are: target_modules [query, value], r and lora_alpha unchanged.
///
/// GPT-2: query, key and value are one fused Conv1D, `attn.c_attn` (out = 3H), and PEFT adapts
/// the whole module. Our k targets of a layer become one PEFT adapter of rank k·r on c_attn:
/// A' = [A_query; A_value] (k·r, H) and B' (3H, k·r) holding B_query in the query rows of the
/// first r columns, B_value in the value rows of the next r, zeros elsewhere (the key block
/// stays unadapted), with lora_alpha = k·alpha so that the scaling alpha/r is unchanged.
/// PEFT computes exactly our function with it. What PEFT cannot express is the constraint:
/// training this adapter further in PEFT would fill the zero blocks (a rank-k·r adapter on all
/// of q, k and v), so it is for inference and merging, not a like-for-like restart.
public struct PEFTAdapter {
    /// adapter_config.json's fields.
    public var rank: Int
    public var alpha: Double
    public var targetModules: [String]
    public var fanInFanOut: Bool
    public var baseModel: String
    /// adapter_model.safetensors's tensors, in module order.
    public var tensors: [SafetensorsWriter.Tensor]

    /// PEFT's adapter of `model`'s LoRA factors; `baseModel` goes into base_model_name_or_path.
    public init(model: SequenceClassifier<Float>, baseModel: String) throws {
        guard let lora = model.lora else { throw ExportError.notExportable("the model has no LoRA adapter to export") }
        let H = model.config.hidden, r = lora.rank
        let layout = BackboneLayout(config: model.config, lora: lora)
        let fused = model.config.family == .gpt2
        let perModule = fused ? lora.targets.count : 1
        rank = perModule * r
        alpha = Double(perModule) * lora.alpha
        targetModules = fused ? ["c_attn"] : lora.targets.map(\.rawValue)
        fanInFanOut = fused  // Conv1D stores [in, out]; PEFT requires the flag for it
        self.baseModel = baseModel
        tensors = []
        for (l, layer) in layout.layers.enumerated() {
            // One PEFT module per target (BERT, RoBERTa) or per layer (GPT-2's fused c_attn).
            let modules: [(path: String, targets: [Int])] = fused
                ? [("h.\(l).attn.c_attn", Array(lora.targets.indices))]
                : lora.targets.indices.map { ("encoder.layer.\(l).attention.self.\(lora.targets[$0].rawValue)", [$0]) }
            for module in modules {
                let outDim = fused ? 3 * H : H
                var a = [Float](), b = [Float](repeating: 0, count: outDim * rank)
                for (column, t) in module.targets.enumerated() {
                    a += model.parameters.values[model.parameters.entry(layer.loraA[t])!.range]
                    let factor = model.parameters.values[model.parameters.entry(layer.loraB[t])!.range]  // (H, r)
                    let rowOffset = fused ? lora.targets[t].block * H : 0
                    for row in 0..<H {
                        for j in 0..<r {
                            b[(rowOffset + row) * rank + column * r + j] = factor[factor.startIndex + row * r + j]
                        }
                    }
                }
                let name = "base_model.model.\(module.path)"
                tensors.append(.init(name: name + ".lora_A.weight", shape: [rank, H], values: .float32(a)))
                tensors.append(.init(name: name + ".lora_B.weight", shape: [outDim, rank], values: .float32(b)))
            }
        }
    }

    /// adapter_config.json as PEFT writes it for a LoRA adapter (inference mode, no dropout:
    /// our LoRA has none; bias "none": biases are not trained).
    public var configuration: [String: Any] {
        ["peft_type": "LORA", "task_type": NSNull(), "base_model_name_or_path": baseModel, "revision": NSNull(),
         "r": rank, "lora_alpha": alpha == alpha.rounded() ? Int(alpha) as Any : alpha, "lora_dropout": 0.0,
         "target_modules": targetModules, "bias": "none", "fan_in_fan_out": fanInFanOut, "inference_mode": true,
         "init_lora_weights": true, "modules_to_save": NSNull(), "layers_to_transform": NSNull(),
         "layers_pattern": NSNull(), "rank_pattern": [String: Any](), "alpha_pattern": [String: Any](),
         "use_rslora": false, "use_dora": false]
    }

    /// Writes adapter_config.json and adapter_model.safetensors into `folder`.
    public func write(to folder: URL) throws {
        let json = try JSONSerialization.data(withJSONObject: configuration,
                                              options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        try FileOperations.writeAtomically(json + Data("\n".utf8), to: folder.appendingPathComponent("adapter_config.json"))
        try SafetensorsWriter.write(tensors, to: folder.appendingPathComponent("adapter_model.safetensors"),
                                    metadata: ["format": "pt"])
    }
}
