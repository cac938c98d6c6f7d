import Foundation
import XCTest
@testable import Model

/// The linear probe on real MiniLM features of sentiment-ood against scikit-learn's
/// LogisticRegressionCV on the same features (Fixtures/probe/lp_sklearn_sentiment_ood.json,
/// made by make_lp_sklearn_fixture.py from `lpft-mpi embed --task ... --json`).
final class LinearProbeOnRealFeaturesTests: XCTestCase {
    struct Fixture: Decodable {
        let train_examples: Int
        let test_examples: Int
        let test_accuracy: Double
        let test_predictions: [Int]
    }

    func testTestAccuracyWithinHalfAPointOfScikitLearn() throws {
        let fixture = try JSONDecoder().decode(Fixture.self, from: Data(contentsOf:
            LoaderTestAssets.fixture("lp_sklearn_sentiment_ood", "json", subdirectory: "probe")))
        let directory = try LoaderTestAssets.miniLMDirectory()
        let dataRoot = directory.deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("data")
        let task = try TaskData.load(.sentimentOOD, dataRoot: dataRoot)
        let tokenizer = try loadTokenizer(directory: directory)
        let model = try SequenceClassifier<Float>.pretrained(directory: directory, classes: 2)
        func features(_ examples: ArraySlice<Example>) -> [Float] {
            var out: [Float] = []
            for start in stride(from: examples.startIndex, to: examples.endIndex, by: 32) {
                let batch = examples[start..<min(examples.endIndex, start + 32)]
                model.forward(TokenBatch(batch.map { tokenizer.encode($0.text, pair: $0.textPair, maxLength: 128) }, config: model.config))
                out += Array(model.features)
            }
            return out
        }
        let train = task.train.prefix(fixture.train_examples), test = task.test.prefix(fixture.test_examples)
        let probe = try LogisticRegressionCV().fit(features: features(train), count: train.count, dimension: 384,
                                                    labels: train.map(\.label), classes: 2)
        let predictions = try Logits(probe.head.logits(features: features(test), count: test.count), classes: 2).predictions()
        let accuracy = Double(zip(predictions, test.map(\.label)).filter { $0 == $1 }.count) / Double(test.count)
        let agreement = Double(zip(predictions, fixture.test_predictions).filter { $0 == $1 }.count) / Double(test.count)
        print("LP on real features: accuracy \(accuracy) vs scikit-learn \(fixture.test_accuracy); agreement \(agreement); C = \(probe.bestStrength)")
        XCTAssertEqual(accuracy, fixture.test_accuracy, accuracy: 0.005)
        // sklearn ≥ 1.5 fits a binomial model for two classes, whose strength C equals our
        // two-row multinomial at C/2: the same grid point is a slightly different model, so a
        // few borderline predictions may flip.
        XCTAssertGreaterThanOrEqual(agreement, 0.95)
    }
}
