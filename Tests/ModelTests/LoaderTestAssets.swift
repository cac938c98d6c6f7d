import Foundation
import XCTest
import Model

/// Files the loader tests read: the downloaded model (assets/, from scripts/fetch-assets.sh) and
/// the fixtures copied into the test bundle.
enum LoaderTestAssets {
    /// The repository root, found from this source file (Tests/ModelTests/LoaderTestAssets.swift).
    static let repositoryRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// assets/models/all-MiniLM-L6-v2 of this checkout (else where `AssetLocator` finds it); fails
    /// the calling test (no skip) when set-up has not run.
    static func miniLMDirectory(file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let checkout = repositoryRoot.appendingPathComponent("assets/models/all-MiniLM-L6-v2")
        let candidates = [checkout] + (AssetLocator.defaultModel().map { [$0] } ?? [])
        guard let directory = candidates.first(where: { candidate in
            ["model.safetensors", "vocab.txt"].allSatisfy {
                FileManager.default.fileExists(atPath: candidate.appendingPathComponent($0).path)
            }
        }) else {
            XCTFail("Model assets missing at \(checkout.path): run scripts/fetch-assets.sh first.", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return directory
    }

    /// A fixture copied into the test bundle (Tests/ModelTests/Fixtures/<subdirectory>/<name>).
    static func fixture(_ name: String, _ ext: String, subdirectory: String,
                        file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        guard let url = Bundle.module.url(forResource: name, withExtension: ext,
                                          subdirectory: "Fixtures/\(subdirectory)") else {
            XCTFail("Fixture Fixtures/\(subdirectory)/\(name).\(ext) missing from the test bundle.", file: file, line: line)
            throw CocoaError(.fileNoSuchFile)
        }
        return url
    }

    /// A model directory of a tiny reference model ("tiny-roberta" or "tiny-gpt2", from
    /// ../shared/reference/tiny) assembled in a fresh temporary folder from the fixture copies:
    /// config.json and model.safetensors (Fixtures/safetensors/<name>) plus the tokenizer files
    /// (Fixtures/tiny/<name>). The caller removes it.
    static func tinyModelDirectory(_ name: String, file: StaticString = #filePath, line: UInt = #line) throws -> URL {
        let manager = FileManager.default
        let directory = manager.temporaryDirectory.appendingPathComponent("\(name)-\(UUID().uuidString)")
        try manager.createDirectory(at: directory, withIntermediateDirectories: true)
        for source in ["safetensors", "tiny"] {
            guard let folder = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Fixtures/\(source)") else {
                XCTFail("Fixture folder Fixtures/\(source)/\(name) missing from the test bundle.", file: file, line: line)
                throw CocoaError(.fileNoSuchFile)
            }
            for item in try manager.contentsOfDirectory(atPath: folder.path)
            where !manager.fileExists(atPath: directory.appendingPathComponent(item).path) {
                try manager.copyItem(at: folder.appendingPathComponent(item), to: directory.appendingPathComponent(item))
            }
        }
        return directory
    }
}
