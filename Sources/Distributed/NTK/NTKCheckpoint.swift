import Foundation
import Model

/// Rank 0's running sums after some chunks: enough to finish the kernel without redoing them.
struct NTKPartialSums {
    /// Chunks whose tiles are included.
    var chunksDone: Int
    /// F over train rows (R × R; the lower triangle is authoritative) and eval × train rows.
    var trainTrain: [Double]
    var evalTrain: [Double]
    /// φ of every train and eval example (count × H).
    var trainFeatures: [Double]
    var evalFeatures: [Double]
}

/// Checkpoints of the partial sums in `<out>/checkpoint/`: after each chunk rank 0 writes
/// `chunk-KKKKK.safetensors` (float64 tensors, written atomically) and then the marker
/// `checkpoint.json` naming it; only then is the previous file deleted. A checkpoint is
/// complete exactly when the marker names it, so a kill at any moment leaves either the old or
/// the new checkpoint usable. The marker also holds a digest of everything the sums depend on.
struct NTKCheckpointStore {
    let directory: URL
    var markerURL: URL { directory.appendingPathComponent("checkpoint.json") }

    /// checkpoint.json; keys snake_case on disk, as kernel.json's.
    struct Marker: Codable {
        var format = "lpft-mpi ntk checkpoint v1"
        var planDigest: String
        var chunksDone: Int
        var file: String

        static func decode(_ data: Data) throws -> Marker {
            let decoder = JSONDecoder()
            decoder.keyDecodingStrategy = .convertFromSnakeCase
            return try decoder.decode(Marker.self, from: data)
        }

        func encoded() throws -> Data {
            let encoder = JSONEncoder()
            encoder.keyEncodingStrategy = .convertToSnakeCase
            return try encoder.encode(self)
        }
    }

    /// The saved sums, or nil when there is no checkpoint. Throws when the checkpoint belongs
    /// to another computation or cannot be read.
    func load(planDigest: String, trainRows: Int, evalRows: Int, trainCount: Int, evalCount: Int,
              hidden: Int) throws -> NTKPartialSums? {
        guard FileManager.default.fileExists(atPath: markerURL.path) else { return nil }
        let marker: Marker
        do {
            marker = try Marker.decode(Data(contentsOf: markerURL))
        } catch {
            throw NTKError.corruptCheckpoint(markerURL.path, "the marker is not valid JSON: \(error.localizedDescription)")
        }
        guard marker.planDigest == planDigest else { throw NTKError.checkpointMismatch(directory.path) }
        let url = directory.appendingPathComponent(marker.file)
        do {
            let file = try SafetensorsFile(url: url)
            func tensor(_ name: String, _ shape: [Int]) throws -> [Double] {
                guard let info = file.info(name), info.shape == shape else {
                    throw NTKError.corruptCheckpoint(url.path, "tensor \(name) missing or not of shape \(shape)")
                }
                return try file.doubles(name)
            }
            return NTKPartialSums(chunksDone: marker.chunksDone,
                                  trainTrain: try tensor("fte_train_train", [trainRows, trainRows]),
                                  evalTrain: try tensor("fte_eval_train", [evalRows, trainRows]),
                                  trainFeatures: try tensor("features_train", [trainCount, hidden]),
                                  evalFeatures: try tensor("features_eval", [evalCount, hidden]))
        } catch let error as NTKError {
            throw error
        } catch {
            throw NTKError.corruptCheckpoint(url.path, error.localizedDescription)
        }
    }

    /// Writes the sums, then the marker, then removes the previous file.
    func save(_ sums: NTKPartialSums, planDigest: String, trainRows: Int, evalRows: Int, hidden: Int) throws {
        try FileOperations.createDirectory(directory)
        let previous = try? Marker.decode(Data(contentsOf: markerURL))
        let name = String(format: "chunk-%05d.safetensors", sums.chunksDone)
        let tensors: [SafetensorsWriter.Tensor] = [
            .init(name: "fte_train_train", shape: [trainRows, trainRows], values: .float64(sums.trainTrain)),
            .init(name: "fte_eval_train", shape: [evalRows, trainRows], values: .float64(sums.evalTrain)),
            .init(name: "features_train", shape: [sums.trainFeatures.count / max(hidden, 1), hidden],
                  values: .float64(sums.trainFeatures)),
            .init(name: "features_eval", shape: [sums.evalFeatures.count / max(hidden, 1), hidden],
                  values: .float64(sums.evalFeatures)),
        ]
        try SafetensorsWriter.write(tensors, to: directory.appendingPathComponent(name))
        let marker = Marker(planDigest: planDigest, chunksDone: sums.chunksDone, file: name)
        try FileOperations.writeAtomically(marker.encoded(), to: markerURL)
        if let previous, previous.file != name {
            try? FileManager.default.removeItem(at: directory.appendingPathComponent(previous.file))
        }
    }

    /// Removes the checkpoint folder (after the outputs are written).
    func remove() {
        try? FileManager.default.removeItem(at: directory)
    }
}
