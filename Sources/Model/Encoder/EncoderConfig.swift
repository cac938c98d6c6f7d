import Foundation

/// The transformer families lpft-mpi runs. BERT and RoBERTa are post-LayerNorm bidirectional
/// encoders (features = first token); GPT-2 is a pre-LayerNorm causal decoder (features = last
/// real token).
public enum ModelFamily: String, Codable, Sendable, CaseIterable {
    case bert, roberta, gpt2

    /// The family named by config.json's "model_type" (`path` names the file in errors).
    init(modelType: Any?, path: String) throws {
        guard let type = modelType as? String else {
            throw ModelError.invalidConfig(path, "missing \"model_type\" (expected bert, roberta or gpt2)")
        }
        guard let family = ModelFamily(rawValue: type) else { throw ModelError.unsupportedFamily(path, type) }
        self = family
    }
}

/// Architecture of an encoder, read from a Hugging Face config.json.
public struct EncoderConfig: Codable, Sendable, Equatable {
    public var family: ModelFamily
    public var layers: Int
    public var hidden: Int
    public var heads: Int
    public var intermediate: Int
    public var vocabularySize: Int
    public var maxPositions: Int
    /// Token-type (segment) vocabulary; 0 for GPT-2.
    public var typeVocabularySize: Int
    public var layerNormEps: Double
    /// Dropout after every sub-layer's output projection (BERT hidden_dropout_prob, GPT-2
    /// resid_pdrop) and before the classifier head.
    public var hiddenDropout: Double
    /// Dropout on the attention probabilities (attention_probs_dropout_prob, attn_pdrop).
    public var attentionDropout: Double
    /// Dropout on the embedding output (BERT: hidden_dropout_prob; GPT-2: embd_pdrop).
    public var embeddingDropout: Double
    public var activation: Activation
    /// Id of the padding token (RoBERTa positions count from padTokenId + 1).
    public var padTokenId: Int

    public init(family: ModelFamily = .bert, layers: Int, hidden: Int, heads: Int, intermediate: Int,
                vocabularySize: Int, maxPositions: Int, typeVocabularySize: Int = 2,
                layerNormEps: Double = 1e-12, hiddenDropout: Double = 0.1, attentionDropout: Double = 0.1,
                embeddingDropout: Double? = nil, activation: Activation = .gelu, padTokenId: Int = 0) {
        self.family = family
        self.layers = layers
        self.hidden = hidden
        self.heads = heads
        self.intermediate = intermediate
        self.vocabularySize = vocabularySize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEps = layerNormEps
        self.hiddenDropout = hiddenDropout
        self.attentionDropout = attentionDropout
        self.embeddingDropout = embeddingDropout ?? hiddenDropout
        self.activation = activation
        self.padTokenId = padTokenId
    }

    /// all-MiniLM-L6-v2, the default model (used when no config.json is at hand).
    public static let miniLM = EncoderConfig(family: .bert, layers: 6, hidden: 384, heads: 12, intermediate: 1536,
                                             vocabularySize: 30522, maxPositions: 512, typeVocabularySize: 2,
                                             layerNormEps: 1e-12)

    /// Position id of the first real token (RoBERTa: padding_idx + 1).
    public var firstPosition: Int { family == .roberta ? padTokenId + 1 : 0 }
    /// Longest sequence the position table allows.
    public var maxSequenceLength: Int { maxPositions - firstPosition }
    /// The paper's 128 tokens, or the model's limit when that is smaller (when no length is given).
    public var defaultMaxLength: Int { min(128, maxSequenceLength) }

    /// Reads `config.json` of a Hugging Face model directory.
    public static func load(directory: URL) throws -> EncoderConfig {
        let (json, path) = try configJSON(directory: directory)
        return try parse(json, path: path)
    }

    /// config.json of `directory` as a JSON object, and its path.
    static func configJSON(directory: URL) throws -> (json: [String: Any], path: String) {
        let url = directory.appendingPathComponent("config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ModelError.missingFile(url.path, hint: "a model directory needs config.json, model.safetensors and its tokenizer files")
        }
        guard let json = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw ModelError.invalidConfig(url.path, "not a JSON object")
        }
        return (json, url.path)
    }

    static func parse(_ json: [String: Any], path: String) throws -> EncoderConfig {
        func int(_ key: String, _ fallback: Int? = nil) throws -> Int {
            if let v = json[key] as? Int { return v }
            if let v = json[key] as? Double, v == v.rounded() { return Int(v) }
            if let fallback { return fallback }
            throw ModelError.invalidConfig(path, "missing integer \"\(key)\"")
        }
        func double(_ key: String, _ fallback: Double) -> Double { (json[key] as? Double) ?? (json[key] as? Int).map(Double.init) ?? fallback }
        let family = try ModelFamily(modelType: json["model_type"], path: path)
        func activation(_ name: String?) throws -> Activation {
            switch name ?? "gelu" {
            case "gelu": return .gelu
            case "gelu_new", "gelu_pytorch_tanh", "gelu_fast": return .geluTanh
            default: throw ModelError.invalidConfig(path, "unsupported activation \"\(name ?? "")\" (expected gelu or gelu_new)")
            }
        }
        let config: EncoderConfig
        switch family {
        case .bert, .roberta:
            config = EncoderConfig(
                family: family, layers: try int("num_hidden_layers"), hidden: try int("hidden_size"),
                heads: try int("num_attention_heads"), intermediate: try int("intermediate_size"),
                vocabularySize: try int("vocab_size"), maxPositions: try int("max_position_embeddings"),
                typeVocabularySize: try int("type_vocab_size", 2),
                layerNormEps: double("layer_norm_eps", 1e-12),
                hiddenDropout: double("hidden_dropout_prob", 0.1),
                attentionDropout: double("attention_probs_dropout_prob", 0.1),
                activation: try activation(json["hidden_act"] as? String),
                padTokenId: try int("pad_token_id", family == .roberta ? 1 : 0))
        case .gpt2:
            // Attention variants this implementation does not have would silently change the model.
            if json["scale_attn_weights"] as? Bool == false {
                throw ModelError.invalidConfig(path, "\"scale_attn_weights\": false is not supported (scores are scaled by 1/√head_dim)")
            }
            if json["scale_attn_by_inverse_layer_idx"] as? Bool == true {
                throw ModelError.invalidConfig(path, "\"scale_attn_by_inverse_layer_idx\": true is not supported")
            }
            let hidden = try int("n_embd")
            // n_inner is null in most GPT-2 configs (= 4·n_embd); so is pad_token_id (pad with
            // eos, as the tokenizer does: padded slots are masked anyway).
            let inner = try int("n_inner", 4 * hidden)
            let pad = try int("pad_token_id", try int("eos_token_id", 0))
            config = EncoderConfig(
                family: .gpt2, layers: try int("n_layer"), hidden: hidden, heads: try int("n_head"),
                intermediate: inner,
                vocabularySize: try int("vocab_size"), maxPositions: try int("n_positions"),
                typeVocabularySize: 0, layerNormEps: double("layer_norm_epsilon", 1e-5),
                hiddenDropout: double("resid_pdrop", 0.1), attentionDropout: double("attn_pdrop", 0.1),
                embeddingDropout: double("embd_pdrop", 0.1),
                activation: try activation(json["activation_function"] as? String ?? "gelu_new"),
                padTokenId: pad)
        }
        guard config.hidden % config.heads == 0 else {
            throw ModelError.invalidConfig(path, "hidden size \(config.hidden) is not divisible by \(config.heads) heads")
        }
        return config
    }
}

/// Errors of model loading and use.
public enum ModelError: Error, LocalizedError, Equatable {
    case missingFile(String, hint: String)
    case invalidConfig(String, String)
    case unsupportedFamily(String, String)
    case missingTensor(file: String, tensor: String)
    case shapeMismatch(file: String, tensor: String, expected: [Int], found: [Int])
    case invalidInput(String)

    public var errorDescription: String? {
        switch self {
        case let .missingFile(path, hint): return "\(path) not found: \(hint)"
        case let .invalidConfig(path, what): return "\(path): invalid model config: \(what)"
        case let .unsupportedFamily(path, type):
            return "\(path): model_type \"\(type)\" is not supported (supported: bert, roberta, gpt2)"
        case let .missingTensor(file, tensor):
            return "\(file): tensor \"\(tensor)\" is missing (is this a checkpoint of the model its config.json describes?)"
        case let .shapeMismatch(file, tensor, expected, found):
            return "\(file): tensor \"\(tensor)\" has shape \(found), expected \(expected) from config.json"
        case let .invalidInput(what): return what
        }
    }
}
