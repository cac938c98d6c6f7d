import Foundation

/// lpft.json: what a Hugging Face model folder needs besides the encoder to classify as the run
/// did. transformers has no class for the paper's head (dropout + Linear on one token's final
/// hidden state), so the head is classifier.safetensors and this file says how to use it.
public struct ClassifierManifest: Codable, Sendable, Equatable {
    /// Layout version of this file; readers refuse versions they do not know.
    public var formatVersion = 1
    /// The training method: lp, ft, lp-ft, lora or lp-lora.
    public var method: String
    /// The token whose final hidden state feeds the head: cls (the first: [CLS] / <s>, BERT and
    /// RoBERTa) or last (the last real token, GPT-2).
    public var feature: Pooling
    /// Class names in head-row order: logit k belongs to classNames[k].
    public var classNames: [String]
    /// T of softmax(logits / T): fitted on the validation set by the run's final evaluation, or
    /// 1 when nothing was fitted (temperatureFittedOn nil).
    public var temperature: Double
    public var temperatureFittedOn: String?
    /// Tokens per example the run used, special tokens included (longer texts are truncated).
    public var maxLength: Int
    /// The run directory's name, and the commit of the binary that trained it.
    public var runID: String
    public var gitCommit: String
    /// The model folder training started from.
    public var baseModel: String
    /// Which parameters these are, e.g. "final model (best epoch 3)" or "checkpoint epoch-2".
    public var parameters: String
    /// LoRA methods: the adapter, merged into model.safetensors (PEFT's layout in ../adapter).
    public var lora: LoRAConfig?

    enum CodingKeys: String, CodingKey {
        case formatVersion = "format_version", method, feature, classNames = "class_names", temperature
        case temperatureFittedOn = "temperature_fitted_on", maxLength = "max_length", runID = "run_id"
        case gitCommit = "git_commit", baseModel = "base_model", parameters, lora
    }

    public init(method: String, feature: Pooling, classNames: [String], temperature: Double,
                temperatureFittedOn: String?, maxLength: Int, runID: String, gitCommit: String,
                baseModel: String, parameters: String, lora: LoRAConfig?) {
        self.method = method
        self.feature = feature
        self.classNames = classNames
        self.temperature = temperature
        self.temperatureFittedOn = temperatureFittedOn
        self.maxLength = maxLength
        self.runID = runID
        self.gitCommit = gitCommit
        self.baseModel = baseModel
        self.parameters = parameters
        self.lora = lora
    }

    public static let fileName = "lpft.json"

    /// Reads `directory`/lpft.json and checks it against the loaded encoder `config`.
    public static func read(directory: URL, config: EncoderConfig) throws -> ClassifierManifest {
        let url = directory.appendingPathComponent(fileName)
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw ExportError.missingClassifierFile(directory: directory.path, file: fileName)
        }
        let manifest: ClassifierManifest
        do {
            manifest = try JSONDecoder().decode(ClassifierManifest.self, from: data)
        } catch {
            throw ExportError.invalidFolder(url.path, "not a readable lpft.json (\(error)); export the run again with `lpft-mpi export RUNDIR --out DIR`")
        }
        try manifest.check(config: config, path: url.path)
        return manifest
    }

    /// Values that come from a file are checked once here (max_length against the positions by
    /// `ModelDirectory.checkInputs`).
    func check(config: EncoderConfig, path: String) throws {
        func fail(_ what: String) -> ExportError { .invalidFolder(path, what) }
        guard formatVersion == 1 else { throw fail("format_version \(formatVersion) is newer than this lpft-mpi reads (1); use a newer lpft-mpi") }
        guard classNames.count >= 2, Set(classNames).count == classNames.count else {
            throw fail("class_names must list at least 2 distinct classes, found \(classNames)")
        }
        guard temperature.isFinite, temperature > 0 else { throw fail("temperature must be positive and finite, found \(temperature)") }
        guard feature == config.family.defaultPooling else {
            throw fail("feature \"\(feature.rawValue)\" does not match the \(config.family.rawValue) encoder's classifier feature \"\(config.family.defaultPooling.rawValue)\"")
        }
    }

    /// README.md of an exported folder: what the files are and the Python that computes the
    /// logits and probabilities from AutoModel's output (`adapter`: the PEFT folder's version).
    public func readme(adapter: Bool) -> String {
        let last = feature == .last
        let load = adapter
            ? """
              from peft import PeftModel
              base = json.load(open(f"{folder}/adapter_config.json"))["base_model_name_or_path"]
              model = PeftModel.from_pretrained(AutoModel.from_pretrained(base), folder).eval()
              tokenizer = AutoTokenizer.from_pretrained(base)
              """
            : """
              model, tokenizer = AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)
              """
        let features = last
            ? "features = hidden[torch.arange(len(hidden)), batch[\"attention_mask\"].sum(1) - 1]  # last real token"
            : "features = hidden[:, 0]                                                  # first token ([CLS] / <s>)"
        let what = adapter
            ? "The LoRA adapter of run \(runID) in PEFT's layout (adapter_config.json, adapter_model.safetensors) for the base model named in adapter_config.json"
              + (lora.map { ", r = \($0.rank), alpha = \(formatNumber($0.alpha)) on \($0.targets.map(\.rawValue).joined(separator: " and "))" } ?? "")
              + "; ../model holds the same classifier with the adapter merged."
            : "A Hugging Face \(method == "lp" ? "encoder (unchanged: linear probing trains only the head)" : "encoder fine-tuned")"
              + " by lpft-mpi (method \(method), run \(runID))"
              + (lora == nil ? "." : ", the LoRA adapter merged into its weights; ../adapter holds it in PEFT's layout.")
        return """
            # \(runID): text classifier (\(method))

            \(what)

            - `classifier.safetensors`: the head, `weight` [C, H] and `bias` [C], applied to the final hidden
              state of the \(last ? "last real token" : "first token ([CLS] / <s>)") (feature `\(feature.rawValue)`).
            - `lpft.json`: class names (logit k is `class_names[k]`), the temperature T (\(temperatureFittedOn.map { "fitted on \($0)" } ?? "not fitted: 1")),
              max_length, method, run id, git commit (\(gitCommit)), which parameters (\(parameters)).

            Logits and probabilities in Python (torch, transformers\(adapter ? ", peft" : "")):

            ```python
            import json, torch
            from safetensors.torch import load_file
            from transformers import AutoModel, AutoTokenizer
            folder = "path/to/this/folder"
            \(load.trimmingCharacters(in: .newlines))
            head, meta = load_file(f"{folder}/classifier.safetensors"), json.load(open(f"{folder}/lpft.json"))
            \(last ? "tokenizer.pad_token = tokenizer.pad_token or tokenizer.eos_token  # GPT-2 pads on the right with eos\n" : "")batch = tokenizer(["a fine film"], truncation=True, max_length=meta["max_length"], padding=True, return_tensors="pt")
            with torch.no_grad():
                hidden = model(**batch).last_hidden_state                               # (B, T, H)
            \(features)
            logits = features @ head["weight"].T + head["bias"]                        # (B, C)
            probabilities = torch.softmax(logits / meta["temperature"], dim=-1)       # columns: meta["class_names"]
            ```

            With lpft-mpi: `lpft-mpi predict --model \(adapter ? "../model" : "FOLDER") --input texts.txt`, `lpft-mpi evaluate --model \(adapter ? "../model" : "FOLDER") --test FILE`.

            """
    }

    private func formatNumber(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(x) }
}

/// Errors of exported model folders and run exports: what is wrong, where, and what to do.
public enum ExportError: Error, LocalizedError, Equatable {
    /// A classifier folder lacks classifier.safetensors or lpft.json.
    case missingClassifierFile(directory: String, file: String)
    /// A file of the folder is unreadable or inconsistent.
    case invalidFolder(String, String)
    /// The model or the run cannot be exported as asked.
    case notExportable(String)

    public var errorDescription: String? {
        switch self {
        case let .missingClassifierFile(directory, file):
            return "\(directory) has no \(file): it is not a classifier exported by lpft-mpi (expected config.json, model.safetensors, "
                + "tokenizer files, classifier.safetensors and lpft.json, as `train` writes to OUT/model). "
                + "For a run directory use `lpft-mpi export RUNDIR --out DIR`; to embed texts with a bare encoder use `lpft-mpi embed --model \(directory)`."
        case let .invalidFolder(path, what):
            return "\(path): \(what)."
        case let .notExportable(message):
            return message
        }
    }
}
