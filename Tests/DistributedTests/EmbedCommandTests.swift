import Foundation
import XCTest

/// `lpft-mpi tokenize` and `embed` on the real model against the reference implementation's
/// outputs (Tests/ModelTests/Fixtures/reference/minilm-reference.json).
final class EmbedCommandTests: XCTestCase {
    struct Reference: Decodable {
        struct Tokenization: Decodable { let text: String; let pair: String?; let max_length: Int; let input_ids: [Int]; let token_type_ids: [Int] }
        struct Embedding: Decodable { let text: String; let cls: [Double]; let mean_pooled_normalized: [Double] }
        let tokenization: [Tokenization]
        let embeddings: [Embedding]
    }

    let reference: Reference = {
        let url = MPILauncher.repositoryRoot.appendingPathComponent("Tests/ModelTests/Fixtures/reference/minilm-reference.json")
        return try! JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }()

    private func write(_ lines: [String], _ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("\(UUID().uuidString)-\(name)")
        try (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testTokenizeGivesTheReferenceIds() throws {
        for maxLength in Set(reference.tokenization.map(\.max_length)) {
            let cases = reference.tokenization.filter { $0.max_length == maxLength }
            let lines = try cases.map { c -> String in
                var object: [String: String] = ["text": c.text]
                if let pair = c.pair { object["text_pair"] = pair }
                return String(decoding: try JSONSerialization.data(withJSONObject: object, options: .sortedKeys), as: UTF8.self)
            }
            let input = try write(lines, "texts.jsonl")
            let r = try MPILauncher.runSingle(["tokenize", "--input", input.path, "--max-length", String(maxLength), "--json"])
            assertSucceeded(r, "tokenize")
            let out = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: [[Int]]]
            XCTAssertEqual(out["input_ids"]!, cases.map(\.input_ids))
            XCTAssertEqual(out["token_type_ids"]!, cases.map(\.token_type_ids))
        }
    }

    func testEmbedMatchesTheReferenceOnOneAndTwoRanks() throws {
        let input = try write(reference.embeddings.map(\.text), "sentences.txt")
        for (np, pooling) in [(1, ["--pooling", "cls"]), (2, []), (2, ["--pooling", "mean", "--normalize"])] {
            let r = try MPILauncher.run(np: np, ["embed", "--input", input.path, "--json", "--eval-batch-size", "4"] + pooling, timeout: 120)
            assertSucceeded(r, "embed np=\(np) \(pooling)")
            let rows = (try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as! [String: [[Double]]])["embeddings"]!
            XCTAssertEqual(rows.count, reference.embeddings.count)
            let expected = pooling.contains("mean") ? reference.embeddings.map(\.mean_pooled_normalized) : reference.embeddings.map(\.cls)
            var worst = 0.0
            for (row, want) in zip(rows, expected) { for (a, b) in zip(row, want) { worst = max(worst, abs(a - b)) } }
            XCTAssertLessThan(worst, 1e-4, "np=\(np) \(pooling)")
        }
    }

    func testMissingInputIsAClearError() throws {
        let r = try MPILauncher.runSingle(["embed", "--input", "/nonexistent/texts.txt"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.stderr.contains("/nonexistent/texts.txt"), r.stderr)
    }
}
