import Foundation

extension SequenceClassifier where T == Float {
    /// Reads every tensor of `groups` from a file that names them as the arena does (a run's
    /// lora.safetensors), checking each shape.
    public func loadParameters(_ groups: Set<ParameterGroup>, from file: SafetensorsFile) throws {
        for entry in parameters.entries where groups.contains(entry.group) {
            guard file.info(entry.name) != nil else { throw ModelError.missingTensor(file: file.url.path, tensor: entry.name) }
            try loadTensor(entry.name, from: file, into: entry)
        }
    }

    /// Puts a saved block of the arena back (a checkpoint's trainable range), after checking that
    /// it fits this model; `source` names the file in errors.
    public func restore(_ values: [Float], range: Range<Int>, source: String) throws {
        guard range.lowerBound >= 0, range.upperBound <= parameters.count, values.count == range.count else {
            throw ExportError.invalidFolder(source, "its parameter block [\(range.lowerBound), \(range.upperBound)) of \(values.count) values "
                                            + "does not fit this model's \(parameters.count) parameters; was the base model folder changed?")
        }
        _ = values.withUnsafeBufferPointer { parameters.values[range].update(from: $0) }
    }
}
