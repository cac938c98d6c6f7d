import Foundation

extension SequenceClassifier {
    /// Builds a classifier from a Hugging Face model directory (config.json + model.safetensors):
    /// backbone weights loaded, head and LoRA initialised from `seed`. Commands open the
    /// directory through `ModelDirectory`, which checks the tokenizer against the config first
    /// and passes the `config` it read.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func pretrained(directory: URL, classes: Int, lora: LoRAConfig? = nil,
                                  seed: UInt64 = 0, config: EncoderConfig? = nil) throws -> SequenceClassifier<T> {
        let config = try config ?? EncoderConfig.load(directory: directory)
        let model = SequenceClassifier<T>(config: config, classes: classes, lora: lora)
        let weights = directory.appendingPathComponent("model.safetensors")
        guard FileManager.default.fileExists(atPath: weights.path) else {
            throw ModelError.missingFile(weights.path, hint: "the model directory needs its weights as model.safetensors")
        }
        try model.loadBackbone(from: SafetensorsFile(url: weights))
        model.initializeHeadAndLoRA(seed: seed)
        return model
    }

    /// Copies every backbone tensor from a checkpoint, by Hugging Face name (a "bert." or
    /// "roberta." prefix, as task checkpoints carry, or GPT-2's "transformer." is accepted),
    /// checking shapes. GPT-2's Conv1D weights ([in, out] in the file) are transposed to (out, in).
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func loadBackbone(from file: SafetensorsFile) throws {
        let layout = BackboneLayout(config: config, lora: lora)
        for entry in parameters.entries where entry.group == .backbone {
            guard let name = layout.checkpointName(of: entry.name, in: file) else {
                throw ModelError.missingTensor(file: file.url.path, tensor: entry.name)
            }
            try loadTensor(name, from: file, into: entry, transposed: layout.transposedInCheckpoint.contains(entry.name))
        }
    }

    /// Loads one tensor (any float dtype) into the arena slot of `entry`; a `transposed` 2-D
    /// tensor is stored [in, out] in the file and (out, in) = entry.shape in the arena.
    func loadTensor(_ name: String, from file: SafetensorsFile, into entry: ParameterEntry, transposed: Bool = false) throws {
        let destination = parameters.values.baseAddress! + entry.offset
        let fileShape = transposed ? Array(entry.shape.reversed()) : entry.shape
        if T.self == Float.self && !transposed {
            try file.read(name, into: UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self),
                                                                 count: entry.count),
                          expectedShape: fileShape)
            return
        }
        guard let info = file.info(name), info.shape == fileShape else {
            throw ModelError.shapeMismatch(file: file.url.path, tensor: name, expected: fileShape,
                                           found: file.info(name)?.shape ?? [])
        }
        let values = try file.doubles(name)  // exact for F32, F16 and BF16 files
        if transposed {
            let inDim = fileShape[0], outDim = fileShape[1]
            for i in 0..<inDim { for o in 0..<outDim { destination[o * inDim + i] = T(values[i * outDim + o]) } }
        } else {
            for i in 0..<entry.count { destination[i] = T(values[i]) }
        }
    }
}
