import Foundation

/// The file formats of the paper's data sets (users bring their own copies). Each reader maps
/// labels to indices of the fixed `classNames`, makes ids "<file name>:<line>", and stops with
/// a `DataError` carrying file:line on a malformed row or an unknown label. Texts follow the
/// authors' code (tom4649/lp-ft_ntk) so results are comparable:
/// - `cb`, `rte` — SuperGLUE JSON Lines {premise, hypothesis, label, idx}: text = premise,
///   textPair = hypothesis; labels are the strings of `classNames`.
/// - `boolq` — {question, passage, label: bool}: text = question, textPair = passage.
/// - `wic` — {word, sentence1, sentence2, label: bool}: one text,
///   "<sentence1> <sentence2> Does <word> have the same meaning in both sentences?"
///   (the authors' default RoBERTa template).
/// - `sst2` — GLUE TSV with header `sentence<TAB>label`, labels 0/1.
/// - `mrpc` — GLUE TSV with header `Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String`:
///   text = #1 String, textPair = #2 String, label = Quality (0/1).
/// - `cola` — GLUE TSV without header: `source<TAB>label<TAB>mark<TAB>sentence`, labels 0/1.
///   GLUE TSV files are split on tabs only: quotes are ordinary characters there.
/// - `boss` — BOSS/OOD_NLP sentiment TSV (Amazon, Dynasent, SemEval, SST-5) with header
///   `Text<TAB>Label`, written by pandas, so fields may be quoted (RFC 4180 with tabs). Labels
///   are 0/1/2 or their names; the class order is the authors' (negative 0, positive 1,
///   neutral 2). Rows with an empty text are skipped, as the authors' reader drops them.
/// - `pubmed` — PubMed 20k RCT txt: a `###<id>` line opens an abstract, then
///   `LABEL<TAB>sentence` lines, blank lines between abstracts. The text is lowercased, as in
///   the authors' reader.
/// Labels of the integer-labelled formats (sst2, mrpc, cola, boss) may also be written as the
/// class name; boolq/wic labels may be JSON booleans or the strings "true"/"false".
public enum PaperFormat: String, CaseIterable, Sendable {
    case cb, rte, boolq, wic, sst2, mrpc, cola, boss, pubmed

    /// The fixed class list (Hugging Face's order for the GLUE/SuperGLUE sets, the authors'
    /// order for BOSS and PubMed).
    public var classNames: [String] {
        switch self {
        case .cb: return ["entailment", "contradiction", "neutral"]
        case .rte: return ["entailment", "not_entailment"]
        case .boolq, .wic: return ["false", "true"]
        case .sst2: return ["negative", "positive"]
        case .mrpc: return ["not_equivalent", "equivalent"]
        case .cola: return ["unacceptable", "acceptable"]
        case .boss: return ["negative", "positive", "neutral"]
        case .pubmed: return ["BACKGROUND", "CONCLUSIONS", "METHODS", "OBJECTIVE", "RESULTS"]
        }
    }

    /// The label map: class names, plus "0", "1", ... for the integer-labelled formats and
    /// "False"/"True" for the boolean ones.
    private var classIndex: ClassIndex {
        switch self {
        case .sst2, .mrpc, .cola, .boss:
            let numbers = Dictionary(uniqueKeysWithValues: classNames.indices.map { (String($0), $0) })
            return ClassIndex(classNames, aliases: numbers)
        case .boolq, .wic:
            return ClassIndex(classNames, aliases: ["False": 0, "True": 1])
        case .cb, .rte, .pubmed:
            return ClassIndex(classNames)
        }
    }

    /// Reads one file of this format. A file without any example is an error.
    public func read(_ url: URL) throws -> [Example] {
        let file = try SourceFile(url)
        let examples: [Example]
        switch self {
        case .cb, .rte, .boolq, .wic: examples = try readSuperGLUE(file)
        case .sst2, .mrpc: examples = try readGLUEWithHeader(file)
        case .cola: examples = try readCoLA(file)
        case .boss: examples = try readBOSS(file)
        case .pubmed: examples = try readPubMed(file)
        }
        guard !examples.isEmpty else { throw DataError.noExamples(path: file.path) }
        return examples
    }

    private func readSuperGLUE(_ file: SourceFile) throws -> [Example] {
        let classes = classIndex
        return try JSONLines.records(of: file).map { record in
            let text: String, textPair: String?
            switch self {
            case .boolq:
                text = try record.string("question", in: file)
                textPair = try record.string("passage", in: file)
            case .wic:
                let word = try record.string("word", in: file)
                let first = try record.string("sentence1", in: file)
                let second = try record.string("sentence2", in: file)
                text = "\(first) \(second) Does \(word) have the same meaning in both sentences?"
                textPair = nil
            default:
                text = try record.string("premise", in: file)
                textPair = try record.string("hypothesis", in: file)
            }
            let label = try classes.index(of: try record.scalar("label", in: file), in: file, line: record.line)
            return Example(id: "\(file.name):\(record.line)", text: text, textPair: textPair, label: label)
        }
    }

    private func readGLUEWithHeader(_ file: SourceFile) throws -> [Example] {
        let table = try HeaderTable(file, dialect: .plainTSV)
        let classes = classIndex
        let textColumn = try table.column(self == .mrpc ? "#1 String" : "sentence")
        let pairColumn = self == .mrpc ? try table.column("#2 String") : nil
        let labelColumn = try table.column(self == .mrpc ? "Quality" : "label")
        return try table.rows.map { row in
            Example(id: "\(file.name):\(row.line)", text: row.fields[textColumn],
                    textPair: pairColumn.map { row.fields[$0] },
                    label: try classes.index(of: row.fields[labelColumn], in: file, line: row.line))
        }
    }

    private func readCoLA(_ file: SourceFile) throws -> [Example] {
        let classes = classIndex
        return try DelimitedText.records(of: file, dialect: .plainTSV).map { row in
            guard row.fields.count == 4 else {
                throw DataError.malformedRow(path: file.path, line: row.line,
                                             expected: "4 tab-separated fields (source, label, mark, sentence)",
                                             found: "\(row.fields.count) field\(row.fields.count == 1 ? "" : "s")")
            }
            return Example(id: "\(file.name):\(row.line)", text: row.fields[3],
                           label: try classes.index(of: row.fields[1], in: file, line: row.line))
        }
    }

    private func readBOSS(_ file: SourceFile) throws -> [Example] {
        let table = try HeaderTable(file, dialect: .quotedTSV)
        let classes = classIndex
        let textColumn = try table.column("Text")
        let labelColumn = try table.column("Label")
        return try table.rows.compactMap { row in
            guard !row.fields[textColumn].isEmpty else { return nil }
            return Example(id: "\(file.name):\(row.line)", text: row.fields[textColumn],
                           label: try classes.index(of: row.fields[labelColumn], in: file, line: row.line))
        }
    }

    private func readPubMed(_ file: SourceFile) throws -> [Example] {
        let classes = classIndex
        var examples: [Example] = []
        var insideAbstract = false
        try file.forEachLine { line, bytes in
            if ASCII.isBlank(bytes) {
                insideAbstract = false
                return
            }
            if bytes.starts(with: [ASCII.hash, ASCII.hash, ASCII.hash]) {
                insideAbstract = true
                return
            }
            guard insideAbstract else {
                throw DataError.malformedRow(path: file.path, line: line,
                                             expected: "a \"###<abstract id>\" line to open each abstract",
                                             found: "a sentence outside an abstract")
            }
            guard let tab = bytes.firstIndex(of: ASCII.tab) else {
                throw DataError.malformedRow(path: file.path, line: line, expected: "LABEL<TAB>sentence",
                                             found: "a line without a tab")
            }
            let label = try file.decode(UnsafeBufferPointer(rebasing: bytes[..<tab]), line: line)
            let sentence = try file.decode(UnsafeBufferPointer(rebasing: bytes[(tab + 1)...]), line: line)
            examples.append(Example(id: "\(file.name):\(line)", text: sentence.lowercased(),
                                    label: try classes.index(of: label, in: file, line: line)))
        }
        return examples
    }
}

extension TaskData {
    /// A task from files of one of the paper's formats, split as the paper does: without a
    /// validation file the training file is split by `paperSplit` (first 90 % train, last
    /// 10 % validation); the paper's "test" file is the data set's original validation file
    /// (PubMed: pass dev.txt as `validationFile` and test.txt as `testFile`). OOD sets keep
    /// the given order and names.
    public static func paperTask(format: PaperFormat, trainFile: URL, validationFile: URL? = nil, testFile: URL,
                                 oodFiles: [(name: String, url: URL)] = [], name: String? = nil) throws -> TaskData
    {
        let training = try format.read(trainFile)
        let (train, validation) = try validationFile.map { (training, try format.read($0)) } ?? paperSplit(training)
        return TaskData(name: name ?? format.rawValue, classNames: format.classNames, train: train,
                        validation: validation, test: try format.read(testFile),
                        ood: try oodFiles.map { NamedSplit(name: $0.name, examples: try format.read($0.url)) })
    }
}
