import Foundation

extension SequenceClassifier {
    /// Builds a classifier from a Hugging Face model directory (config.json + model.safetensors):
    /// backbone weights loaded, head and LoRA initialised from `seed`.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public static func pretrained(directory: URL, classes: Int, lora: LoRAConfig? = nil,
                                  seed: UInt64 = 0) throws -> SequenceClassifier<T> {
        let config = try EncoderConfig.load(directory: directory)
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
    /// "roberta." prefix, as task checkpoints carry, is accepted), checking shapes.
    @_specialize(exported: true, where T == Float)
    @_specialize(exported: true, where T == Double)
    public func loadBackbone(from file: SafetensorsFile) throws {
        let prefixes = ["", "bert.", "roberta."]
        for entry in parameters.entries where entry.group == .backbone {
            guard let name = prefixes.map({ $0 + entry.name }).first(where: { file.info($0) != nil }) else {
                throw ModelError.missingTensor(file: file.url.path, tensor: entry.name)
            }
            try loadTensor(name, from: file, into: entry)
        }
    }

    /// Loads one tensor (any float dtype) into the arena slot of `entry`.
    func loadTensor(_ name: String, from file: SafetensorsFile, into entry: ParameterEntry) throws {
        let destination = parameters.values.baseAddress! + entry.offset
        if T.self == Float.self {
            try file.read(name, into: UnsafeMutableBufferPointer(start: UnsafeMutableRawPointer(destination).assumingMemoryBound(to: Float.self),
                                                                 count: entry.count),
                          expectedShape: entry.shape)
        } else {
            guard let info = file.info(name), info.shape == entry.shape else {
                throw ModelError.shapeMismatch(file: file.url.path, tensor: name, expected: entry.shape,
                                               found: file.info(name)?.shape ?? [])
            }
            let values = try file.doubles(name)
            for i in 0..<entry.count { destination[i] = T(values[i]) }
        }
    }
}
