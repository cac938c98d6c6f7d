import Foundation
import XCTest
@testable import Distributed
import Model

/// Example files, random subsets and head files of `lpft-mpi ntk`.
final class NTKInputsTests: XCTestCase {
    func temporary(_ name: String, _ text: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ntk-inputs-\(UUID().uuidString)-\(name)")
        try text.write(to: url, atomically: true, encoding: .utf8)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url
    }

    func testReadsJSONLinesExamples() throws {
        let url = try temporary("ok.jsonl", """
            {"text": "a fine film", "label": 1}

            {"text": "is it?", "text_pair": "no", "label": 0, "id": "q7"}
            """)
        let examples = try NTKExamples.read(url)
        XCTAssertEqual(examples, [Example(id: "\(url.lastPathComponent):1", text: "a fine film", label: 1),
                                  Example(id: "q7", text: "is it?", textPair: "no", label: 0)])
    }

    func testMalformedExampleLinesNameFileAndLine() throws {
        let cases: [(String, String)] = [
            ("{\"text\": \"x\", \"label\": 0}\n{\"text\": \"y\", \"label\": \"pos\"}\n", ":2: malformed row: expected \"label\" to be a class index"),
            ("{\"text\": \"x\", \"label\": -1}\n", ":1: malformed row: expected \"label\" to be a class index"),
            ("{\"sentence\": \"x\", \"label\": 0}\n", ":1: no column \"text\"; the columns present are: label, sentence"),
            ("{\"text\": \"x\"}\n", ":1: no column \"label\""),
            ("not json\n", ":1: malformed row: expected one JSON object on the line"),
            ("\n\n", ": the file contains no examples"),
        ]
        for (text, expected) in cases {
            let url = try temporary("bad.jsonl", text)
            XCTAssertThrowsError(try NTKExamples.read(url)) { error in
                let message = (error as? LocalizedError)?.errorDescription ?? ""
                XCTAssertTrue(message.contains(url.path + expected), "\(message) should contain \(expected)")
            }
        }
    }

    func testRandomSubsetsKeepOriginalOrderAndDependOnTheSeed() {
        let examples = (0..<40).map { Example(id: "e\($0)", text: "t", label: $0 % 2) }
        XCTAssertEqual(NTKExamples.subset(examples, count: 40, seed: 1), examples)
        XCTAssertEqual(NTKExamples.subset(examples, count: nil, seed: 1), examples)
        let a = NTKExamples.subset(examples, count: 10, seed: 1)
        XCTAssertEqual(a.count, 10)
        let positions = a.map { e in examples.firstIndex(of: e)! }
        XCTAssertEqual(positions, positions.sorted())
        XCTAssertEqual(Set(positions).count, 10)
        XCTAssertEqual(NTKExamples.subset(examples, count: 10, seed: 1), a)
        XCTAssertNotEqual(NTKExamples.subset(examples, count: 10, seed: 2), a)
    }

    func testHeadFilesRoundTripAndBadShapesAreNamed() throws {
        let head = LinearHead(classes: 3, dimension: 4, weight: (0..<12).map { Double($0) / 7 }, bias: [0.5, -1, 2])
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("head-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try head.writeSafetensors(to: url)
        XCTAssertEqual(try LinearHead(safetensors: url, hidden: 4), head)
        XCTAssertThrowsError(try LinearHead(safetensors: url, hidden: 8)) { error in
            let message = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertTrue(message.contains(url.path) && message.contains("shape [3, 4]; expected [C, 8]"), message)
        }
        try SafetensorsWriter.write([(name: "weight", shape: [3, 4], values: [Float](repeating: 1, count: 12))], to: url)
        XCTAssertThrowsError(try LinearHead(safetensors: url, hidden: 4)) { error in
            let message = (error as? LocalizedError)?.errorDescription ?? ""
            XCTAssertTrue(message.contains("needs tensors \"weight\" [C, 4] and \"bias\" [C]; it has: weight"), message)
        }
    }
}
