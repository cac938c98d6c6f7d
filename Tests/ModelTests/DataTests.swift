import XCTest
@testable import Model

/// Readers checked against hand-written fixtures (Fixtures/data, values written out below and
/// cross-checked with Python's csv module), and the built-in tasks against counts computed
/// independently from the raw asset files.
final class DataTests: XCTestCase {
    /// A fixture under Fixtures/data, e.g. "glue/sst2.tsv".
    private func fixture(_ path: String) throws -> URL {
        let folder = path.split(separator: "/").dropLast().joined(separator: "/")
        let file = path.split(separator: "/").last.map(String.init) ?? path
        let dot = try XCTUnwrap(file.lastIndex(of: "."))
        return try XCTUnwrap(Bundle.module.url(forResource: String(file[..<dot]),
                                               withExtension: String(file[file.index(after: dot)...]),
                                               subdirectory: "Fixtures/data/\(folder)"),
                             "missing fixture \(path)")
    }

    /// The error thrown by `body`, as a DataError with its message.
    private func dataError(_ body: () throws -> Any) -> (error: DataError?, message: String) {
        do {
            _ = try body()
            return (nil, "no error")
        } catch let error as DataError {
            return (error, error.errorDescription ?? "")
        } catch {
            return (nil, "other error \(error)")
        }
    }

    // MARK: SuperGLUE JSON Lines

    func testCBReadsPremiseHypothesisAndStringLabels() throws {
        let examples = try PaperFormat.cb.read(fixture("superglue/cb.jsonl"))
        XCTAssertEqual(PaperFormat.cb.classNames, ["entailment", "contradiction", "neutral"])
        XCTAssertEqual(examples, [
            Example(id: "cb.jsonl:1", text: "It was a complex language. Not written down but handed down.",
                    textPair: "the language was peeled down", label: 1),
            Example(id: "cb.jsonl:2", text: "Café owners said \"no\", the menu stayed.",
                    textPair: "The menu changed at the café.", label: 2),
            Example(id: "cb.jsonl:4", text: "A, B and C met.", textPair: "They met.", label: 0),
        ])
    }

    func testRTEWithCRLFLineEndings() throws {
        let examples = try PaperFormat.rte.read(fixture("superglue/rte.jsonl"))
        XCTAssertEqual(examples.map(\.label), [1, 0, 0])
        XCTAssertEqual(examples.map(\.id), ["rte.jsonl:1", "rte.jsonl:2", "rte.jsonl:3"])
        XCTAssertEqual(examples[2].text, "Gérard Depardieu played Cyrano.")
        XCTAssertEqual(examples[2].textPair, "Depardieu is an actor.")
    }

    func testBoolQIsQuestionThenPassageWithBooleanLabels() throws {
        let examples = try PaperFormat.boolq.read(fixture("superglue/boolq.jsonl"))
        XCTAssertEqual(PaperFormat.boolq.classNames, ["false", "true"])
        XCTAssertEqual(examples.map(\.label), [1, 0, 1])
        XCTAssertEqual(examples[1].text, "is the sky green")
        XCTAssertEqual(examples[1].textPair, "The sky is blue.\nMostly.")
    }

    func testWiCUsesTheAuthorsTemplate() throws {
        let examples = try PaperFormat.wic.read(fixture("superglue/wic.jsonl"))
        XCTAssertEqual(examples.map(\.label), [0, 1, 0])
        XCTAssertEqual(examples[0].text, "Do you want to come over to my place later? A political system with no place"
            + " for the less prominent groups. Does place have the same meaning in both sentences?")
        XCTAssertNil(examples[0].textPair)
        XCTAssertEqual(examples[2].text, "The café opened. A café au lait. Does café have the same meaning in both sentences?")
    }

    // MARK: GLUE TSV

    func testSST2KeepsQuotesAndTrailingSpaces() throws {
        let examples = try PaperFormat.sst2.read(fixture("glue/sst2.tsv"))
        XCTAssertEqual(examples.map(\.label), [0, 0, 1, 0])
        XCTAssertEqual(examples[0], Example(id: "sst2.tsv:2", text: "hide new secretions from the parental units ", label: 0))
        XCTAssertEqual(examples[3].text, "\" the film is strictly routine . ")
    }

    func testMRPCWithByteOrderMark() throws {
        let examples = try PaperFormat.mrpc.read(fixture("glue/mrpc.tsv"))
        XCTAssertEqual(examples.map(\.label), [1, 0, 1])
        XCTAssertEqual(examples[0].text, "Amrozi accused his brother , whom he called \" the witness \" , of deliberately distorting his evidence .")
        XCTAssertEqual(examples[0].textPair, "Referring to him as only \" the witness \" , Amrozi accused his brother of deliberately distorting his evidence .")
        XCTAssertEqual(examples[2].text, "The café \"Zoë\" closed .")
        XCTAssertEqual(examples[2].textPair, "Zoë's café shut down .")
    }

    func testCoLAWithoutHeader() throws {
        let examples = try PaperFormat.cola.read(fixture("glue/cola.tsv"))
        XCTAssertEqual(examples, [
            Example(id: "cola.tsv:1", text: "Our friends won't buy this analysis, let alone the next one we propose.", label: 1),
            Example(id: "cola.tsv:2", text: "They drank the pub.", label: 0),
            Example(id: "cola.tsv:3", text: "The more we study verbs, the crazier they get.", label: 1),
        ])
    }

    // MARK: BOSS and PubMed

    func testBOSSQuotedFieldsNumericLabelsAndSkippedEmptyText() throws {
        let examples = try PaperFormat.boss.read(fixture("boss/amazon_train.tsv"))
        XCTAssertEqual(PaperFormat.boss.classNames, ["negative", "positive", "neutral"])
        XCTAssertEqual(examples, [
            Example(id: "amazon_train.tsv:2", text: "Great product, works as \"advertised\".", label: 1),
            Example(id: "amazon_train.tsv:3", text: "Broke after a week.\tTotally useless.", label: 0),
            Example(id: "amazon_train.tsv:4", text: "Okay.\nNothing special.", label: 2),
            Example(id: "amazon_train.tsv:7", text: "Naïve design but fine", label: 2),
        ])
    }

    func testBOSSNamedLabels() throws {
        let examples = try PaperFormat.boss.read(fixture("boss/semeval_test.tsv"))
        XCTAssertEqual(examples.map(\.label), [1, 2, 0])
        XCTAssertEqual(examples.map(\.text), ["I love this", "meh", "awful"])
    }

    func testPubMedAbstractsAreLowercasedSentences() throws {
        let examples = try PaperFormat.pubmed.read(fixture("pubmed/train.txt"))
        XCTAssertEqual(PaperFormat.pubmed.classNames, ["BACKGROUND", "CONCLUSIONS", "METHODS", "OBJECTIVE", "RESULTS"])
        XCTAssertEqual(examples, [
            Example(id: "train.txt:2", text: "to investigate the efficacy of @ weeks of daily low-dose oral prednisolone .", label: 3),
            Example(id: "train.txt:3", text: "a total of @ patients were randomized .", label: 2),
            Example(id: "train.txt:4", text: "pain was reduced ( p < @ ) .", label: 4),
            Example(id: "train.txt:7", text: "emotional eating is associated with overeating .", label: 0),
            Example(id: "train.txt:8", text: "the café study supports mindful eating .", label: 1),
        ])
    }

    // MARK: Paper protocol

    func testPaperSplitIsFirstNinetyPercentThenLastTenWithCeilingRounding() {
        func examples(_ count: Int) -> [Example] { (0..<count).map { Example(id: "\($0)", text: "t\($0)", label: 0) } }
        // Python: math.ceil(0.1 * n) for n = 10, 11, 19, 2490, 9427 → 1, 2, 2, 249, 943.
        for (count, validation) in [(10, 1), (11, 2), (19, 2), (2490, 249), (9427, 943), (1, 1), (0, 0)] {
            let split = TaskData.paperSplit(examples(count))
            XCTAssertEqual(split.validation.count, validation, "n = \(count)")
            XCTAssertEqual(split.train.count, count - validation, "n = \(count)")
            XCTAssertEqual(split.train.map(\.id) + split.validation.map(\.id), (0..<count).map { "\($0)" })
        }
    }

    func testPaperTaskSplitsTrainingFileAndReadsTestAndOOD() throws {
        let task = try PaperFormat.boss.read(fixture("boss/amazon_train.tsv"))
        let loaded = try TaskData.paperTask(format: .boss, trainFile: fixture("boss/amazon_train.tsv"),
                                            testFile: fixture("boss/semeval_test.tsv"),
                                            oodFiles: [(name: "semeval", url: fixture("boss/semeval_test.tsv"))])
        XCTAssertEqual(loaded.name, "boss")
        XCTAssertEqual(loaded.train, Array(task[0..<3]))  // 4 rows: ⌈0.4⌉ = 1 validation row
        XCTAssertEqual(loaded.validation, [task[3]])
        XCTAssertEqual(loaded.test.count, 3)
        XCTAssertEqual(loaded.ood.map(\.name), ["semeval"])
        XCTAssertEqual(loaded.ood.first?.examples.map(\.label), [1, 2, 0])
    }

    // MARK: Generic tables

    func testGenericCSVQuotingCRLFAndInferredClasses() throws {
        let spec = GenericTableSpec(textColumn: "review", labelColumn: "label")
        let task = try TaskData.loadGeneric(name: "mine", train: fixture("generic/train.csv"),
                                            validation: fixture("generic/validation.tsv"),
                                            test: fixture("generic/test.jsonl"),
                                            ood: [(name: "far", url: fixture("generic/ood.tsv"))], spec: spec)
        XCTAssertEqual(task.classNames, ["neg", "neu", "pos"])
        XCTAssertEqual(task.train, [
            Example(id: "train.csv:2", text: "Loved it, truly.", label: 2),
            Example(id: "train.csv:3", text: "She said \"wow\"\r\nand left", label: 0),
            Example(id: "train.csv:5", text: "Plain text with é accent", label: 2),
            Example(id: "train.csv:7", text: "", label: 0),
            Example(id: "train.csv:8", text: "last row without a line break", label: 1),
        ])
        XCTAssertEqual(task.validation, [
            Example(id: "validation.tsv:2", text: "good stuff", label: 2),
            Example(id: "validation.tsv:3", text: "tab\tinside", label: 0),
        ])
        XCTAssertEqual(task.test.map(\.text), ["great", "bad", "so-so"])
        XCTAssertEqual(task.test.map(\.label), [2, 0, 1])
        XCTAssertEqual(task.test.map(\.id), ["test.jsonl:1", "test.jsonl:2", "test.jsonl:4"])
        XCTAssertEqual(task.ood.map(\.name), ["far"])
        XCTAssertEqual(task.ood.first?.examples, [Example(id: "ood.tsv:2", text: "out there", label: 1)])
    }

    func testGenericWithoutValidationFileUsesPaperSplitAndGivenClasses() throws {
        let spec = GenericTableSpec(textColumn: "review", classNames: ["pos", "neg", "neu"])
        let task = try TaskData.loadGeneric(train: fixture("generic/train.csv"), test: fixture("generic/test.jsonl"),
                                            spec: spec, validationFraction: 0.4)
        XCTAssertEqual(task.name, "generic")
        XCTAssertEqual(task.classNames, ["pos", "neg", "neu"])
        XCTAssertEqual(task.train.map(\.id), ["train.csv:2", "train.csv:3", "train.csv:5"])  // ⌈0.4·5⌉ = 2 validate
        XCTAssertEqual(task.train.map(\.label), [0, 1, 0])
        XCTAssertEqual(task.validation.map(\.id), ["train.csv:7", "train.csv:8"])
        XCTAssertEqual(task.validation.map(\.label), [1, 2])
    }

    func testGenericJSONLinesNumericAndBooleanLabelsAndPairs() throws {
        // Whole-number labels 0, 2, 10 are not 0…K−1 or 1…K: inferring classes from them is
        // refused (a stray value would become a class); declared, they map by name ("2.0" = "2").
        XCTAssertThrowsError(try TaskData.loadGeneric(train: fixture("generic/numbers.jsonl"),
                                                      test: fixture("generic/numbers.jsonl"), spec: GenericTableSpec())) { error in
            guard case let DataError.invalidLabel(path, line, label, _) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(path.hasSuffix("numbers.jsonl"))
            XCTAssertEqual(line, 1)
            XCTAssertEqual(label, "10")
        }
        let numbers = try TaskData.loadGeneric(train: fixture("generic/numbers.jsonl"), test: fixture("generic/numbers.jsonl"),
                                               spec: GenericTableSpec(classNames: ["0", "2", "10"]))
        XCTAssertEqual(numbers.test.map(\.label), [2, 1, 0, 1])
        // 0…10 inferred: sorted as numbers, so "2" < "10".
        let eleven = FileManager.default.temporaryDirectory.appendingPathComponent("eleven-\(UUID().uuidString).jsonl")
        defer { try? FileManager.default.removeItem(at: eleven) }
        try (0...10).reversed().map { "{\"text\": \"t\", \"label\": \($0)}" }.joined(separator: "\n").write(to: eleven, atomically: true, encoding: .utf8)
        XCTAssertEqual(try TaskData.loadGeneric(train: eleven, test: eleven, spec: GenericTableSpec()).classNames, (0...10).map(String.init))

        let bools = try GenericTableSpec().read(fixture("generic/bools.jsonl"), classNames: ["false", "true"])
        XCTAssertEqual(bools.map(\.label), [1, 0])

        let pairs = try GenericTableSpec(textColumn: "premise", textPairColumn: "hypothesis")
            .read(fixture("generic/pairs.csv"), classNames: ["entailment", "neutral"])
        XCTAssertEqual(pairs, [
            Example(id: "pairs.csv:2", text: "A man, a plan.", textPair: "A canal.", label: 0),
            Example(id: "pairs.csv:3", text: "Cats sleep.", textPair: "Dogs bark, loudly.", label: 1),
        ])

        // JSON Lines: a record without the pair field (or with null) is a single text…
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("pairs-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let mixed = folder.appendingPathComponent("mixed.jsonl")
        try "{\"t\":\"a\",\"label\":0}\n{\"t\":\"b\",\"p\":\"c\",\"label\":1}\n{\"t\":\"d\",\"p\":null,\"label\":1}\n"
            .write(to: mixed, atomically: true, encoding: .utf8)
        let spec = GenericTableSpec(textColumn: "t", textPairColumn: "p")
        XCTAssertEqual(try spec.read(mixed, classNames: ["0", "1"]).map(\.textPair), [nil, "c", nil])
        // …but a pair field that no record has is a misspelt name.
        XCTAssertThrowsError(try GenericTableSpec(textColumn: "t", textPairColumn: "q").read(mixed, classNames: ["0", "1"])) {
            XCTAssertTrue(($0 as? DataError)?.errorDescription?.contains("no column \"q\"") == true, "\($0)")
        }
    }

    // MARK: Errors carry file:line and say what was expected

    func testMalformedRowsReportFileAndLine() throws {
        let spec = GenericTableSpec()
        let cases: [(file: String, line: Int, read: (URL) throws -> Any)] = [
            ("bad/unterminated.csv", 3, { try spec.read($0, classNames: ["neg", "pos"]) }),
            ("bad/after_quote.csv", 3, { try spec.read($0, classNames: ["pos"]) }),
            ("bad/fields.tsv", 3, { try GenericTableSpec(textColumn: "review").read($0, classNames: ["neg", "pos"]) }),
            ("bad/bad_json.jsonl", 2, { try GenericTableSpec(textColumn: "review").read($0, classNames: ["pos"]) }),
            ("bad/pubmed_no_tab.txt", 3, { try PaperFormat.pubmed.read($0) }),
            ("bad/pubmed_orphan.txt", 1, { try PaperFormat.pubmed.read($0) }),
            ("bad/cola_short.tsv", 2, { try PaperFormat.cola.read($0) }),
        ]
        for item in cases {
            let url = try fixture(item.file)
            let (error, message) = dataError { try item.read(url) }
            guard case let .malformedRow(path, line, _, _)? = error else {
                XCTFail("\(item.file): expected a malformed-row error, got \(message)")
                continue
            }
            XCTAssertEqual(path, url.path)
            XCTAssertEqual(line, item.line, item.file)
            XCTAssertTrue(message.contains("\(url.lastPathComponent):\(item.line):"), message)
            XCTAssertTrue(message.contains("expected"), message)
        }
    }

    func testInvalidUTF8ReportsTheLine() throws {
        let url = try fixture("bad/invalid_utf8.tsv")
        let (error, message) = dataError { try GenericTableSpec(textColumn: "review").read(url, classNames: ["neg", "pos"]) }
        XCTAssertEqual(error, .invalidEncoding(path: url.path, line: 3), message)
        XCTAssertTrue(message.contains("invalid_utf8.tsv:3"), message)
    }

    func testUnknownLabelNamesFileLineAndKnownClasses() throws {
        let spec = GenericTableSpec(textColumn: "review")
        let validation = try fixture("bad/unknown_label.tsv")
        let (error, message) = dataError {
            try TaskData.loadGeneric(train: self.fixture("generic/train.csv"), validation: validation,
                                     test: self.fixture("generic/test.jsonl"), spec: spec)
        }
        XCTAssertEqual(error, .unknownLabel(path: validation.path, line: 3, label: "maybe", knownClasses: ["neg", "neu", "pos"]))
        XCTAssertTrue(message.contains("unknown_label.tsv:3"), message)
        XCTAssertTrue(message.contains("neg, neu, pos"), message)

        let cb = try fixture("bad/cb_unknown.jsonl")
        XCTAssertEqual(dataError { try PaperFormat.cb.read(cb) }.error,
                       .unknownLabel(path: cb.path, line: 2, label: "maybe",
                                     knownClasses: ["entailment", "contradiction", "neutral"]))
    }

    func testMissingColumnListsTheColumnsPresent() throws {
        let csv = try fixture("bad/missing_column.csv")
        let (error, message) = dataError { try GenericTableSpec().read(csv, classNames: ["pos"]) }
        XCTAssertEqual(error, .missingColumn(path: csv.path, line: nil, column: "text", available: ["sentence", "target"]))
        XCTAssertTrue(message.contains("missing_column.csv") && message.contains("sentence, target"), message)

        let unlabelled = try fixture("glue/sst2_test.tsv")
        XCTAssertEqual(dataError { try PaperFormat.sst2.read(unlabelled) }.error,
                       .missingColumn(path: unlabelled.path, line: nil, column: "label", available: ["index", "sentence"]))

        let json = try fixture("bad/cb_missing_field.jsonl")
        XCTAssertEqual(dataError { try PaperFormat.cb.read(json) }.error,
                       .missingColumn(path: json.path, line: 2, column: "hypothesis", available: ["idx", "label", "premise"]))
    }

    func testEmptyMissingAndUnsupportedFiles() throws {
        let empty = try fixture("bad/empty.csv")
        XCTAssertEqual(dataError { try GenericTableSpec().read(empty, classNames: ["pos"]) }.error,
                       .noExamples(path: empty.path))
        let notes = try fixture("generic/notes.txt")
        guard case .unsupportedFormat? = dataError({ try GenericTableSpec().read(notes, classNames: ["pos"]) }).error else {
            return XCTFail("a .txt table must be rejected")
        }
        let nowhere = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("lpft-no-such-\(UUID().uuidString)")
        let (error, message) = dataError { try TaskData.load(.sentimentOOD, dataRoot: nowhere) }
        guard case let .missingFile(path, _)? = error else { return XCTFail(message) }
        XCTAssertTrue(path.hasSuffix("vader/hutto_ICWSM_2014/amazonReviewSnippets_GroundTruth.txt"), path)
        XCTAssertTrue(message.contains("bash scripts/fetch-assets.sh"), message)
        let (bbcError, bbcMessage) = dataError { try TaskData.load(.bbcTopic, dataRoot: nowhere) }
        guard case let .missingFile(bbcPath, _)? = bbcError else { return XCTFail(bbcMessage) }
        XCTAssertTrue(bbcPath.hasSuffix("bbcnews/business"), bbcPath)
    }

    // MARK: Built-in tasks on the real assets

    private func dataRoot() throws -> URL {
        try XCTUnwrap(AssetLocator.dataRoot(), "assets/data not found: run bash scripts/fetch-assets.sh")
    }

    /// An independent reading of a VADER file: split at CRLF, each line at its first two tabs.
    private func rawVader(_ fileName: String) throws -> [(id: String, rating: Double, text: String)] {
        let url = try dataRoot().appendingPathComponent("vader/hutto_ICWSM_2014").appendingPathComponent(fileName)
        return try String(contentsOf: url, encoding: .utf8).components(separatedBy: "\r\n").filter { !$0.isEmpty }.map {
            let parts = $0.split(separator: "\t", maxSplits: 2, omittingEmptySubsequences: false).map(String.init)
            return (parts[0], try XCTUnwrap(Double(parts[1])), parts[2])
        }
    }

    private func assertDisjointSplits(_ task: TaskData, file: StaticString = #filePath, line: UInt = #line) {
        let ids = task.train.map(\.id) + task.validation.map(\.id) + task.test.map(\.id)
        XCTAssertEqual(Set(ids).count, ids.count, "\(task.name): splits overlap", file: file, line: line)
        for example in task.train + task.validation + task.test + task.ood.flatMap(\.examples) {
            XCTAssertTrue(task.classNames.indices.contains(example.label), "\(example.id)", file: file, line: line)
        }
    }

    private func timedLoad(_ task: BuiltinTask) throws -> TaskData {
        let start = Date()
        let loaded = try TaskData.load(task, dataRoot: dataRoot())
        let seconds = Date().timeIntervalSince(start)
        XCTAssertLessThan(seconds, 2, "\(task.rawValue) took \(seconds) s to load")
        return loaded
    }

    func testVaderReaderReadsEveryRow() throws {
        let root = try dataRoot()
        // Row counts of the four ground-truth files (ASSETS.md; `wc -l` + 1 for the last unterminated line).
        let counts: [VaderDomain: Int] = [.amazon: 3_708, .movie: 10_605, .nyt: 5_190, .tweets: 4_200]
        for (domain, count) in counts {
            XCTAssertEqual(try BuiltinData.vader(domain, dataRoot: root).count, count, domain.rawValue)
        }
        let amazon = try BuiltinData.vader(.amazon, dataRoot: root)
        XCTAssertEqual(amazon.first?.id, "amazon:1_1")
        XCTAssertEqual(amazon.first?.rating, -0.9)
        XCTAssertEqual(amazon.first?.text, "troubleshooting ad-2500 and ad-2600 no picture scrolling b/w.")
        XCTAssertEqual(amazon.last?.id, "amazon:309_8")
        XCTAssertEqual(amazon.last?.text, "it did lock up on me a couple of times, and then it just froze and now i'm out $ 300 for their piece of junk.")
    }

    func testSentimentOODMatchesItsDefinition() throws {
        let task = try timedLoad(.sentimentOOD)
        XCTAssertEqual(task.classNames, ["negative", "positive"])
        // Python: 2,985 Amazon rows with |rating| ≥ 0.5, 1,750 of them > 0; splits ⌊0.7n⌋, ⌊0.1n⌋, rest.
        XCTAssertEqual([task.train.count, task.validation.count, task.test.count], [2_089, 298, 598])
        XCTAssertEqual((task.train + task.validation + task.test).filter { $0.label == 1 }.count, 1_750)
        assertDisjointSplits(task)

        // The documented rule, re-derived from an independent parse of the raw file.
        let filtered = try rawVader("amazonReviewSnippets_GroundTruth.txt").filter { abs($0.rating) >= 0.5 }
        var order = Array(filtered.indices)
        var generator = RandomGenerator(seed: 0)
        generator.shuffle(&order)
        let expected = order.map { Example(id: "amazon:\(filtered[$0].id)", text: filtered[$0].text,
                                           label: filtered[$0].rating > 0 ? 1 : 0) }
        XCTAssertEqual(task.train + task.validation + task.test, expected)

        // OOD sets: Python counts with |rating| ≥ 0.5 — movie 10,072 (4,996 positive),
        // tweets 3,432 (2,345), nyt 2,970 (1,187).
        XCTAssertEqual(task.ood.map(\.name), ["movie", "tweets", "nyt"])
        XCTAssertEqual(task.ood.map(\.examples.count), [10_072, 3_432, 2_970])
        XCTAssertEqual(task.ood.map { $0.examples.filter { $0.label == 1 }.count }, [4_996, 2_345, 1_187])
        let movieTexts = Set(task.ood[0].examples.map(\.text))
        XCTAssertTrue(task.train.allSatisfy { !movieTexts.contains($0.text) })

        let again = try TaskData.load(.sentimentOOD, dataRoot: dataRoot())
        XCTAssertEqual(again.train, task.train)
        XCTAssertEqual(again.validation, task.validation)
        XCTAssertEqual(again.test, task.test)
        XCTAssertEqual(again.ood.map(\.examples), task.ood.map(\.examples))
    }

    func testSentiment5BinsTheMovieRatings() throws {
        let task = try timedLoad(.sentiment5)
        XCTAssertEqual(task.classNames.count, 5)
        XCTAssertTrue(task.ood.isEmpty)
        // Python: 10,605 rows; bins [−4,−2), [−2,−0.5), [−0.5,0.5], (0.5,2], (2,4] hold
        // 1,904 / 3,157 / 562 / 2,946 / 2,036.
        XCTAssertEqual([task.train.count, task.validation.count, task.test.count], [7_423, 1_060, 2_122])
        let all = task.train + task.validation + task.test
        XCTAssertEqual((0..<5).map { label in all.filter { $0.label == label }.count }, [1_904, 3_157, 562, 2_946, 2_036])
        assertDisjointSplits(task)
        let ratings = Dictionary(uniqueKeysWithValues: try rawVader("movieReviewSnippets_GroundTruth.txt").map { ("movie:\($0.id)", $0.rating) })
        for example in all {
            let rating = try XCTUnwrap(ratings[example.id])
            let bounds: [(Double, Double)] = [(-4, -2), (-2, -0.5), (-0.5, 0.5), (0.5, 2), (2, 4)]
            let (low, high) = bounds[example.label]
            XCTAssertTrue(rating >= low && rating <= high, "\(example.id) rating \(rating) in class \(example.label)")
        }
        XCTAssertEqual(try TaskData.load(.sentiment5, dataRoot: dataRoot()).test, task.test)
    }

    func testRTPolarityAndTheIMDBSample() throws {
        let task = try timedLoad(.rtPolarity)
        XCTAssertEqual(task.classNames, ["negative", "positive"])
        // Python csv: 8,530 rotten_tomatoes rows (4,265 per label), 25,000 imdb rows; 80/10/10.
        XCTAssertEqual([task.train.count, task.validation.count, task.test.count], [6_824, 853, 853])
        XCTAssertEqual((task.train + task.validation + task.test).filter { $0.label == 1 }.count, 4_265)
        assertDisjointSplits(task)
        XCTAssertEqual(task.ood.map(\.name), ["imdb"])
        let imdb = task.ood[0].examples
        XCTAssertEqual(imdb.count, 2_000)
        XCTAssertEqual(Set(imdb.map(\.id)).count, 2_000)
        XCTAssertTrue(Set(imdb.map(\.id)).isDisjoint(with: (task.train + task.validation + task.test).map(\.id)))
        XCTAssertTrue(imdb.allSatisfy { !$0.text.contains("<br />") })
        XCTAssertTrue(Set(imdb.map(\.label)) == [0, 1])
        // The first rotten_tomatoes row of the CSV (label 1), lowercased and tokenised in the source.
        let firstRotten = (task.train + task.validation + task.test).first { $0.text.hasPrefix("the rock is destined to be the 21st century's new \" conan \"") }
        XCTAssertEqual(firstRotten?.label, 1)
        let again = try TaskData.load(.rtPolarity, dataRoot: dataRoot())
        XCTAssertEqual(again.train, task.train)
        XCTAssertEqual(again.ood[0].examples, imdb)
    }

    func testBBCTopicArticles() throws {
        let task = try timedLoad(.bbcTopic)
        XCTAssertEqual(task.classNames, ["business", "entertainment", "politics", "sports", "tech"])
        // `ls bbcnews/<class> | wc -l`: 510, 386, 417, 511, 401 (2,225 articles).
        XCTAssertEqual([task.train.count, task.validation.count, task.test.count], [1_557, 222, 446])
        let all = task.train + task.validation + task.test
        XCTAssertEqual((0..<5).map { label in all.filter { $0.label == label }.count }, [510, 386, 417, 511, 401])
        assertDisjointSplits(task)
        let first = try XCTUnwrap(all.first { $0.id == "bbc:business/001" })
        XCTAssertTrue(first.text.hasPrefix("Ad sales boost Time Warner profit Quarterly profits at US media giant"
            + " TimeWarner jumped 76% to $1.13bn (£600m) for the three months to December"), first.text)
        let latin1 = try XCTUnwrap(all.first { $0.id == "bbc:sports/199" })
        XCTAssertTrue(latin1.text.contains("Mutu, a £15.8m signing"), latin1.text)
        XCTAssertEqual(try TaskData.load(.bbcTopic, dataRoot: dataRoot()).validation, task.validation)
    }

    /// Evaluation data are matched to a model's classes by name; a class the model lacks names
    /// the example and lists the model's classes.
    func testRelabelMatchesClassesByName() throws {
        let examples = [Example(id: "a.csv:2", text: "x", label: 0), Example(id: "a.csv:3", text: "y", label: 1)]
        let relabeled = try TaskData.relabel(examples, from: ["negative", "positive"], to: ["positive", "negative", "neutral"])
        XCTAssertEqual(relabeled.map(\.label), [1, 0])
        XCTAssertThrowsError(try TaskData.relabel(examples, from: ["negative", "mixed"], to: ["negative", "positive"])) { error in
            XCTAssertEqual(error as? DataError, .unknownClass(example: "a.csv:3", label: "mixed", knownClasses: ["negative", "positive"]))
            XCTAssertTrue(error.localizedDescription.contains("a.csv:3: label \"mixed\""), error.localizedDescription)
        }
        let task = TaskData(name: "t", classNames: ["a", "b"], train: [], validation: [], test: examples,
                            ood: [NamedSplit(name: "far", examples: [])])
        XCTAssertEqual(try task.examples(ofSplit: "test"), examples)
        XCTAssertThrowsError(try task.examples(ofSplit: "dev")) { XCTAssertTrue($0.localizedDescription.contains("train, validation, test, far")) }
    }

    /// Classes inferred from a training file: one kind of label, no strays.
    func testInferredClassesAreOneKindOfLabelWithoutStrays() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("infer-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        func infer(_ labels: [String]) throws -> [String] {
            let url = folder.appendingPathComponent("t.csv")
            try (["text,label"] + labels.map { "x,\($0)" }).joined(separator: "\n").write(to: url, atomically: true, encoding: .utf8)
            let file = try SourceFile(url)
            return try ClassIndex.inferred(from: labels.enumerated().map { ($0.offset + 2, $0.element) }, in: file)
        }
        XCTAssertEqual(try infer(["3", "1", "5", "2", "4", "1"]), ["1", "2", "3", "4", "5"])
        XCTAssertEqual(try infer(["true", "false", "true"]), ["false", "true"])
        XCTAssertEqual(try infer(["pos", "neg", "neutral"]), ["neg", "neutral", "pos"])
        for (labels, strayLine) in [(["0", "1", "-1", "1"], 4), (["0", "1", "1e9"], 4), (["0", "1", "0.5"], 4),
                                    (["0", "1", "0", "true"], 5), (["1", "0", "1 "], 4), (["pos", "neg", "1"], 4),
                                    (["0", "2"], 2), (["01", "1", "0"], 2)] {
            XCTAssertThrowsError(try infer(labels), "\(labels)") { error in
                guard case let DataError.invalidLabel(_, line, _, _) = error else { return XCTFail("\(error)") }
                XCTAssertEqual(line, strayLine, "\(labels)")
                XCTAssertTrue(error.localizedDescription.contains("--labels"))
            }
        }
    }
}
