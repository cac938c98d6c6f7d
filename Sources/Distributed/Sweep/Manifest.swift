import Foundation

// Reading manifest.jsonl back, from bytes (no file system: SweepDirectory.readManifest reads the
// file; the fuzz target feeds this function directly).

extension SweepRun {
    /// The runs of a manifest (one JSON run record per line, blank lines skipped), in order;
    /// `path` names the file in errors (`manifest.jsonl:3: ...`).
    public static func parseManifest(_ data: Data, path: String) throws -> [SweepRun] {
        let decoder = JSONDecoder()
        var runs: [SweepRun] = []
        for (index, line) in String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
            let run: SweepRun
            do { run = try decoder.decode(SweepRun.self, from: Data(line.utf8)) } catch {
                throw SweepError.invalidManifest(path: path, line: index + 1,
                                                 message: "not a run record (\(error)); re-create it with lpft-mpi sweep plan")
            }
            // The id names runs/<id> and logs/<id>.log, which a sweep writes and deletes in:
            // it must stay a plain file name inside the sweep folder.
            guard isFileName(run.id) else {
                throw SweepError.invalidManifest(path: path, line: index + 1,
                                                 message: "run id '\(run.id)' is not a plain file name (letters, digits, '-', '_', '.'; not '.' or '..'); re-create it with lpft-mpi sweep plan")
            }
            runs.append(run)
        }
        guard !runs.isEmpty else {
            throw SweepError.invalidManifest(path: path, line: 1, message: "no runs; re-create it with lpft-mpi sweep plan")
        }
        let ids = runs.map(\.id)
        if Set(ids).count != ids.count {
            throw SweepError.invalidManifest(path: path, line: 1, message: "run ids repeat; re-create it with lpft-mpi sweep plan")
        }
        return runs
    }

    /// Whether `id` is what `makeID` writes: ASCII letters, digits, '-', '_', '.', and no path step.
    static func isFileName(_ id: String) -> Bool {
        !id.isEmpty && id != "." && id != ".."
            && id.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }
    }
}
