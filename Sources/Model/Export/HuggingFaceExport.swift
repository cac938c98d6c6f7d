import Foundation

/// Writes a trained classifier where other tools can use it:
/// - `model/`: a Hugging Face model folder — config.json and the tokenizer files copied from the
///   base model, model.safetensors with exactly the base file's tensor names, dtypes, shapes and
///   order, the trained values in place (LoRA merged), every tensor the encoder does not load
///   (pooler, position_ids, …) copied byte for byte — plus the head (classifier.safetensors),
///   lpft.json and a README with the Python that applies the head;
/// - `adapter/` (LoRA models only): the unmerged adapter in PEFT's layout with the same head files.
/// Each folder is assembled under a temporary name next to it and renamed into place.
public enum HuggingFaceExport {
    /// Tokenizer files copied from the base model folder when present.
    public static let tokenizerFiles = ["vocab.txt", "vocab.json", "merges.txt", "tokenizer.json",
                                        "tokenizer_config.json", "special_tokens_map.json"]

    /// Writes `output`/model and, when `model` has LoRA factors, `output`/adapter.
    public static func writeRunFolders(_ model: SequenceClassifier<Float>, base: URL, manifest: ClassifierManifest,
                                       into output: URL) throws {
        try writeClassifierFolder(model, base: base, manifest: manifest, to: output.appendingPathComponent("model"))
        if model.lora != nil {
            try writeAdapterFolder(model, base: base, manifest: manifest, to: output.appendingPathComponent("adapter"))
        }
    }

    /// The Hugging Face folder of `model` (LoRA merged) on the base model folder `base`.
    public static func writeClassifierFolder(_ model: SequenceClassifier<Float>, base: URL, manifest: ClassifierManifest,
                                             to folder: URL) throws {
        let merged = model.lora == nil ? model : model.mergedLoRA()
        let source = try SafetensorsFile(url: base.appendingPathComponent("model.safetensors"))
        var metadata = source.metadata
        metadata["format"] = metadata["format"] ?? "pt"  // transformers expects safetensors saved from torch
        let tensors = try backboneTensors(of: merged, like: source)
        try writeFolderAtomically(folder) { temp in
            for name in ["config.json"] + tokenizerFiles {
                let file = base.appendingPathComponent(name)
                guard FileManager.default.fileExists(atPath: file.path) else { continue }
                do { try FileManager.default.copyItem(at: file, to: temp.appendingPathComponent(name)) } catch {
                    throw FileOperationError(path: temp.appendingPathComponent(name).path, action: "copy \(file.path) to",
                                             reason: FileOperationError.reason(of: error))
                }
            }
            try SafetensorsWriter.write(tensors, to: temp.appendingPathComponent("model.safetensors"), metadata: metadata)
            try writeHeadFiles(merged, manifest: manifest, adapter: false, to: temp)
        }
    }

    /// PEFT's adapter folder of `model`'s LoRA factors, with the head files.
    public static func writeAdapterFolder(_ model: SequenceClassifier<Float>, base: URL, manifest: ClassifierManifest,
                                          to folder: URL) throws {
        let adapter = try PEFTAdapter(model: model, baseModel: base.standardizedFileURL.path)
        try writeFolderAtomically(folder) { temp in
            try adapter.write(to: temp)
            try writeHeadFiles(model, manifest: manifest, adapter: true, to: temp)
        }
    }

    /// The tensors of model.safetensors: every tensor of `source` under its name, dtype and shape
    /// and in its order; backbone tensors take `model`'s values (GPT-2's Conv1D weights transposed
    /// back to [in, out]), the others are copied as stored. `model` must not have LoRA factors.
    public static func backboneTensors(of model: SequenceClassifier<Float>,
                                       like source: SafetensorsFile) throws -> [SafetensorsWriter.Tensor] {
        precondition(model.lora == nil, "merge LoRA before exporting the backbone")
        let layout = BackboneLayout(config: model.config, lora: nil)
        var entryOfFileName: [String: ParameterEntry] = [:]
        for entry in model.parameters.entries where entry.group == .backbone {
            guard let name = layout.checkpointName(of: entry.name, in: source) else {
                throw ModelError.missingTensor(file: source.url.path, tensor: entry.name)
            }
            entryOfFileName[name] = entry
        }
        return try source.tensorNames.map { name in
            let info = source.info(name)!
            guard let entry = entryOfFileName[name] else {
                return .init(name: name, shape: info.shape, values: .raw(info.dtype, try source.rawBytes(name)))
            }
            var values = Array(model.parameters.values[entry.range])
            var shape = entry.shape
            if layout.transposedInCheckpoint.contains(entry.name) {
                values = transposed(values, rows: shape[0], columns: shape[1])
                shape.reverse()
            }
            guard shape == info.shape else {
                throw ModelError.shapeMismatch(file: source.url.path, tensor: name, expected: shape, found: info.shape)
            }
            guard let encoded = SafetensorsWriter.Values.encoding(values, as: info.dtype) else {
                throw ExportError.notExportable("\(source.url.path): tensor \(name) is stored as \(info.dtype.rawValue), "
                                                + "not a float type; the encoder cannot have loaded it")
            }
            return .init(name: name, shape: shape, values: encoded)
        }
    }

    /// classifier.safetensors, lpft.json and README.md.
    static func writeHeadFiles(_ model: SequenceClassifier<Float>, manifest: ClassifierManifest, adapter: Bool,
                               to folder: URL) throws {
        try SafetensorsWriter.write(model.headTensors, to: folder.appendingPathComponent("classifier.safetensors"),
                                    metadata: ["method": manifest.method, "model": manifest.baseModel])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        try FileOperations.writeAtomically(encoder.encode(manifest) + Data("\n".utf8),
                                           to: folder.appendingPathComponent(ClassifierManifest.fileName))
        try FileOperations.writeAtomically(Data(manifest.readme(adapter: adapter).utf8), to: folder.appendingPathComponent("README.md"))
    }

    /// Fills a temporary sibling of `folder`, then puts it in place: an existing folder is moved
    /// aside first and removed last, so a reader sees the old folder or the new one, whole.
    static func writeFolderAtomically(_ folder: URL, _ fill: (URL) throws -> Void) throws {
        let parent = folder.deletingLastPathComponent(), name = folder.lastPathComponent, pid = getpid()
        let temp = parent.appendingPathComponent(".\(name).tmp-\(pid)"), old = parent.appendingPathComponent(".\(name).old-\(pid)")
        try FileOperations.remove(temp)
        try FileOperations.createDirectory(temp)
        var placed = false
        defer { if !placed { try? FileManager.default.removeItem(at: temp) } }
        try fill(temp)
        let replacing = FileManager.default.fileExists(atPath: folder.path)
        if replacing { try FileOperations.move(folder, to: old) }
        try FileOperations.move(temp, to: folder)
        placed = true
        if replacing { try? FileOperations.remove(old) }
    }

    /// (rows, columns) row-major → (columns, rows) row-major.
    static func transposed(_ values: [Float], rows: Int, columns: Int) -> [Float] {
        var result = [Float](repeating: 0, count: values.count)
        for r in 0..<rows { for c in 0..<columns { result[c * rows + r] = values[r * columns + c] } }
        return result
    }
}

extension SequenceClassifier where T == Float {
    /// The head as safetensors tensors {weight [C, H], bias [C]} (F32): classifier.safetensors,
    /// head.safetensors, and what `lpft-mpi ntk --head FILE` reads.
    public var headTensors: [SafetensorsWriter.Tensor] {
        let w = parameters.entry("classifier.weight")!, b = parameters.entry("classifier.bias")!
        return [.init(name: "weight", shape: w.shape, values: .float32(Array(parameters.values[w.range]))),
                .init(name: "bias", shape: b.shape, values: .float32(Array(parameters.values[b.range])))]
    }
}

extension SequenceClassifier {
    /// Copies a head (V, b) into the classifier's head parameters (rounded to T).
    public func setHead(_ head: LinearHead) {
        precondition(head.classes == classes && head.dimension == config.hidden, "head shape does not match the classifier")
        let w = parameters.value("classifier.weight"), b = parameters.value("classifier.bias")
        for i in 0..<head.weight.count { w[i] = T(head.weight[i]) }
        for i in 0..<head.bias.count { b[i] = T(head.bias[i]) }
    }
}
