import Foundation

/// Why a RoBERTa / GPT-2 model directory could not be read as a byte-level BPE tokenizer.
public enum BytePairTokenizerError: LocalizedError, Equatable {
    case missingFile(name: String, directory: String)
    case corruptFile(path: String, problem: String)
    case badMerge(path: String, line: Int, text: String, problem: String)
    case unsupportedModelType(String?, path: String)
    case unsupportedPipeline(path: String, problem: String)
    case missingSpecialToken(token: String, role: String, directory: String)
    case noPadToken(directory: String)

    public var errorDescription: String? {
        switch self {
        case .missingFile(let name, let directory):
            return "\(name) not found in \(directory): a RoBERTa/GPT-2 model directory needs config.json, "
                + "vocab.json and merges.txt (tokenizer.json and tokenizer_config.json are optional). "
                + "Download the model's tokenizer files next to its weights."
        case .corruptFile(let path, let problem):
            return "\(path) is corrupt: \(problem). Download the file again."
        case .badMerge(let path, let line, let text, let problem):
            return "\(path):\(line): merge \"\(text)\" \(problem); each line of merges.txt (after an optional "
                + "#version line) must be two vocab.json tokens separated by one space, whose concatenation "
                + "is in vocab.json too. Download the file again."
        case .unsupportedModelType(let modelType, let path):
            return "\(path): model_type \(modelType.map { "\"\($0)\"" } ?? "missing") is not a byte-level BPE "
                + "family this tokenizer knows (\"roberta\", \"gpt2\")."
        case .unsupportedPipeline(let path, let problem):
            return "\(path): \(problem), which this GPT-2/RoBERTa tokenizer does not implement; its ids would "
                + "differ from Hugging Face's. Use the model's original tokenizer files."
        case .missingSpecialToken(let token, let role, let directory):
            return "the \(role) token \"\(token)\" is neither in vocab.json nor an added token of \(directory); "
                + "set it in tokenizer_config.json (\"cls_token\" / \"sep_token\") or fix the vocabulary."
        case .noPadToken(let directory):
            return "no pad token for \(directory): config.json has no pad_token_id or eos_token_id and "
                + "tokenizer_config.json no pad_token or eos_token in the vocabulary; add \"pad_token_id\" to config.json."
        }
    }
}

extension BytePairTokenizer {
    /// Reads a Hugging Face RoBERTa or GPT-2 model directory:
    /// - config.json (required): "model_type" "roberta" or "gpt2" picks the wrapping;
    ///   "pad_token_id" / "eos_token_id" give the pad id;
    /// - vocab.json (required): token → id; merges.txt (required): merges by rank;
    /// - tokenizer.json (optional): "added_tokens" (with lstrip/rstrip/single_word), the ByteLevel
    ///   pre-tokenizer's add_prefix_space, RobertaProcessing's cls/sep;
    /// - tokenizer_config.json (optional): add_prefix_space (wins over tokenizer.json, as
    ///   transformers rebuilds the pre-tokenizer from it), special token names, and the added
    ///   tokens when there is no tokenizer.json ("added_tokens_decoder", else the named special
    ///   tokens found in vocab.json).
    /// Pad id: config.json pad_token_id, else tokenizer_config.json pad_token, else config.json
    /// eos_token_id, else tokenizer_config.json eos_token (GPT-2's usual pad = eos).
    public init(directory: URL) throws {
        let files = ModelFiles(directory: directory)
        let config = try files.jsonObject("config.json", required: true) ?? [:]
        let modelType = config["model_type"] as? String
        guard let family = modelType.flatMap(Family.init(rawValue:)) else {
            throw BytePairTokenizerError.unsupportedModelType(modelType, path: files.path("config.json"))
        }
        let tokenizerConfig = try files.jsonObject("tokenizer_config.json", required: false) ?? [:]
        let pipeline = try files.jsonObject("tokenizer.json", required: false)

        let vocabulary = try files.vocabulary()
        let merger = try files.merger(vocabulary: vocabulary)
        let addedTokens = try pipeline.map { try files.addedTokens(fromPipeline: $0) }
            ?? Self.addedTokens(fromConfig: tokenizerConfig, vocabulary: vocabulary)
        func id(of token: String) -> Int32? {
            addedTokens.first { $0.content.elementsEqual(token.utf8) }?.id ?? vocabulary[token]
        }

        var wrappingIds: (begin: Int32, separator: Int32)?
        if family == .roberta {
            let processor = pipeline?["post_processor"] as? [String: Any]
            func specialId(_ processorKey: String, _ configKeys: [String], _ fallback: String) throws -> Int32 {
                if let pair = processor?[processorKey] as? [Any], pair.count == 2, let value = pair[1] as? Int,
                   let processorId = Int32(exactly: value) {
                    return processorId
                }
                let name = configKeys.lazy.compactMap { Self.tokenName(tokenizerConfig[$0]) }.first ?? fallback
                guard let tokenId = id(of: name) else {
                    throw BytePairTokenizerError.missingSpecialToken(token: name, role: processorKey,
                                                                     directory: directory.path)
                }
                return tokenId
            }
            wrappingIds = (try specialId("cls", ["cls_token", "bos_token"], "<s>"),
                           try specialId("sep", ["sep_token", "eos_token"], "</s>"))
        }

        let padCandidates: [Int32?] = [
            (config["pad_token_id"] as? Int).flatMap { Int32(exactly: $0) },
            Self.tokenName(tokenizerConfig["pad_token"]).flatMap(id(of:)),
            (config["eos_token_id"] as? Int).flatMap { Int32(exactly: $0) },
            Self.tokenName(tokenizerConfig["eos_token"]).flatMap(id(of:)),
        ]
        guard let padId = padCandidates.lazy.compactMap({ $0 }).first else {
            throw BytePairTokenizerError.noPadToken(directory: directory.path)
        }

        let prefixFromPipeline = try pipeline.flatMap { try files.byteLevelAddPrefixSpace(pipeline: $0) }
        let largestId = max(vocabulary.values.max() ?? -1, addedTokens.map(\.id).max() ?? -1)
        self.init(family: family, wrappingIds: wrappingIds, padId: padId,
                  vocabularySize: Int(largestId) + 1,
                  addsPrefixSpace: tokenizerConfig["add_prefix_space"] as? Bool ?? prefixFromPipeline ?? false,
                  merger: merger, addedTokens: AddedTokenMatcher(tokens: addedTokens))
    }

    /// A special token written as "<s>" or as {"content": "<s>", …} (older tokenizer_config.json).
    static func tokenName(_ value: Any?) -> String? {
        (value as? String) ?? ((value as? [String: Any])?["content"] as? String)
    }

    /// Added tokens without tokenizer.json: tokenizer_config.json "added_tokens_decoder"
    /// ({"0": {"content": "<s>", "lstrip": false, …}}), else its named special tokens that
    /// vocab.json holds (names missing from vocab.json are skipped).
    static func addedTokens(fromConfig config: [String: Any], vocabulary: [String: Int32]) -> [AddedToken] {
        func token(_ id: Int32, _ description: Any?) -> AddedToken? {
            guard let content = tokenName(description) else { return nil }
            let flags = description as? [String: Any] ?? [:]
            return AddedToken(content: Array(content.utf8), id: id,
                              stripsLeft: flags["lstrip"] as? Bool ?? false,
                              stripsRight: flags["rstrip"] as? Bool ?? false,
                              isSingleWord: flags["single_word"] as? Bool ?? false)
        }
        if let decoder = config["added_tokens_decoder"] as? [String: Any] {
            return decoder.compactMap { key, description in Int32(key).flatMap { token($0, description) } }
        }
        let keys = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]
        var descriptions = keys.compactMap { config[$0] }
        descriptions += config["additional_special_tokens"] as? [Any] ?? []
        return descriptions.compactMap { description in
            tokenName(description).flatMap { vocabulary[$0] }.flatMap { token($0, description) }
        }
    }
}

/// The files of one model directory, read with errors that name them.
private struct ModelFiles {
    let directory: URL

    func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    func data(_ name: String, required: Bool) throws -> Data? {
        let url = directory.appendingPathComponent(name)
        guard FileManager.default.fileExists(atPath: url.path) else {
            if required { throw BytePairTokenizerError.missingFile(name: name, directory: directory.path) }
            return nil
        }
        do {
            return try Data(contentsOf: url)
        } catch {
            throw BytePairTokenizerError.corruptFile(path: url.path, problem: "unreadable (\(error.localizedDescription))")
        }
    }

    func jsonObject(_ name: String, required: Bool) throws -> [String: Any]? {
        guard let data = try data(name, required: required) else { return nil }
        let object = try? JSONSerialization.jsonObject(with: data)
        guard let dictionary = object as? [String: Any] else {
            throw BytePairTokenizerError.corruptFile(path: path(name), problem: "not a JSON object")
        }
        return dictionary
    }

    /// vocab.json: {"token": id, …} with ids in 0..<2³¹.
    func vocabulary() throws -> [String: Int32] {
        let json = try jsonObject("vocab.json", required: true) ?? [:]
        var vocabulary: [String: Int32] = [:]
        vocabulary.reserveCapacity(json.count)
        for (token, value) in json {
            guard let number = value as? Int, let id = Int32(exactly: number), id >= 0 else {
                throw BytePairTokenizerError.corruptFile(
                    path: path("vocab.json"), problem: "token \"\(token)\" has id \(value), not an integer in 0..<2^31")
            }
            vocabulary[token] = id
        }
        if vocabulary.isEmpty {
            throw BytePairTokenizerError.corruptFile(path: path("vocab.json"), problem: "no tokens")
        }
        return vocabulary
    }

    /// merges.txt: one "left right" pair per line, rank = order; "#version" and empty lines are skipped.
    func merger(vocabulary: [String: Int32]) throws -> BytePairMerger {
        guard let data = try data("merges.txt", required: true),
              let text = String(data: data, encoding: .utf8) else {
            throw BytePairTokenizerError.corruptFile(path: path("merges.txt"), problem: "not UTF-8 text")
        }
        var merges: [Int64: Int64] = [:]
        var rank: Int64 = 0
        for (index, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = rawLine.hasSuffix("\r") ? rawLine.dropLast() : rawLine
            if line.isEmpty || line.hasPrefix("#version") { continue }
            func bad(_ problem: String) -> BytePairTokenizerError {
                .badMerge(path: path("merges.txt"), line: index + 1, text: String(line), problem: problem)
            }
            let parts = line.split(separator: " ", omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].isEmpty, !parts[1].isEmpty else {
                throw bad("is not two tokens separated by one space")
            }
            guard let left = vocabulary[String(parts[0])] else { throw bad("has \"\(parts[0])\" not in vocab.json") }
            guard let right = vocabulary[String(parts[1])] else { throw bad("has \"\(parts[1])\" not in vocab.json") }
            guard let merged = vocabulary[String(parts[0]) + String(parts[1])] else {
                throw bad("makes \"\(parts[0])\(parts[1])\", which is not in vocab.json")
            }
            merges[BytePairMerger.pairKey(left, right)] = rank << 32 | Int64(merged)
            rank += 1
        }
        var byteIds = [Int32](repeating: -1, count: 256)
        for byte in 0..<256 {
            byteIds[byte] = vocabulary[String(Character(ByteLevel.byteToScalar[byte]))] ?? -1
        }
        return BytePairMerger(byteIds: byteIds, merges: merges)
    }

    /// tokenizer.json "added_tokens": [{"id": 0, "content": "<s>", "lstrip": false, …}, …].
    func addedTokens(fromPipeline pipeline: [String: Any]) throws -> [AddedToken] {
        let entries = pipeline["added_tokens"] as? [[String: Any]] ?? []
        return try entries.map { entry in
            guard let content = entry["content"] as? String, let number = entry["id"] as? Int,
                  let id = Int32(exactly: number) else {
                throw BytePairTokenizerError.corruptFile(
                    path: path("tokenizer.json"), problem: "added token \(entry) lacks a \"content\" string or an \"id\"")
            }
            return AddedToken(content: Array(content.utf8), id: id,
                              stripsLeft: entry["lstrip"] as? Bool ?? false,
                              stripsRight: entry["rstrip"] as? Bool ?? false,
                              isSingleWord: entry["single_word"] as? Bool ?? false)
        }
    }

    /// add_prefix_space of tokenizer.json's ByteLevel pre-tokenizer (alone or in a Sequence);
    /// refuses pipelines whose ids this tokenizer would not reproduce.
    func byteLevelAddPrefixSpace(pipeline: [String: Any]) throws -> Bool? {
        if let normalizer = pipeline["normalizer"] as? [String: Any] {
            throw BytePairTokenizerError.unsupportedPipeline(
                path: path("tokenizer.json"), problem: "it has a \(normalizer["type"] ?? "?") normalizer")
        }
        guard let preTokenizer = pipeline["pre_tokenizer"] as? [String: Any] else { return nil }
        let steps = preTokenizer["type"] as? String == "Sequence"
            ? preTokenizer["pretokenizers"] as? [[String: Any]] ?? [] : [preTokenizer]
        guard steps.count == 1, steps[0]["type"] as? String == "ByteLevel",
              steps[0]["use_regex"] as? Bool ?? true else {
            throw BytePairTokenizerError.unsupportedPipeline(
                path: path("tokenizer.json"),
                problem: "its pre_tokenizer is not a single ByteLevel with use_regex (\(steps.map { $0["type"] ?? "?" }))")
        }
        return steps[0]["add_prefix_space"] as? Bool
    }
}
