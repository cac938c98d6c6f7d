import Foundation

/// Which columns of a user's table hold the text, the optional second text and the label.
/// The file type comes from the extension:
/// - `.csv` — comma-separated, RFC 4180 quoting, first record is the header;
/// - `.tsv` — tab-separated, first record is the header, the same quoting (as pandas writes
///   and reads TSV: a field starting with `"` may hold tabs, line breaks and `""`);
/// - `.jsonl`, `.json`, `.ndjson` — JSON Lines, one object per line; a label may be a string,
///   an integer or a boolean and is matched by its string form ("3", "true").
/// Blank lines are skipped; line endings may be LF or CRLF; a UTF-8 byte-order mark is ignored.
public struct GenericTableSpec: Sendable, Equatable {
    public var textColumn: String
    public var textPairColumn: String?
    public var labelColumn: String
    /// The class list; nil infers it from the training file (see `TaskData.loadGeneric`).
    public var classNames: [String]?

    public init(textColumn: String = "text", textPairColumn: String? = nil, labelColumn: String = "label",
                classNames: [String]? = nil) {
        self.textColumn = textColumn
        self.textPairColumn = textPairColumn
        self.labelColumn = labelColumn
        self.classNames = classNames
    }

    /// One row before its label is mapped to a class.
    struct RawRow {
        let line: Int
        let text: String
        let textPair: String?
        let label: String
    }

    /// Reads the rows of one file; every label must be non-empty.
    func rawRows(_ url: URL) throws -> (file: SourceFile, rows: [RawRow]) {
        let file = try SourceFile(url)
        let rows: [RawRow]
        switch url.pathExtension.lowercased() {
        case "csv": rows = try tableRows(file, dialect: .csv)
        case "tsv": rows = try tableRows(file, dialect: .quotedTSV)
        case "jsonl", "json", "ndjson":
            let records = try JSONLines.records(of: file)
            // A record without the pair field (or with null) is a single text; the field must
            // still appear somewhere, so a misspelt name is an error rather than no pairs.
            if let pairColumn = textPairColumn, let first = records.first,
               !records.contains(where: { $0.fields[pairColumn] != nil }) {
                _ = try first.string(pairColumn, in: file)
            }
            rows = try records.map { record in
                RawRow(line: record.line, text: try record.string(textColumn, in: file),
                       textPair: try textPairColumn.flatMap { column in
                           if case .null = record.fields[column] ?? .null { return nil }
                           return try record.string(column, in: file)
                       },
                       label: try record.scalar(labelColumn, in: file))
            }
        default:
            throw DataError.unsupportedFormat(path: file.path,
                                              expected: ".csv, .tsv, or .jsonl/.json/.ndjson (JSON Lines)")
        }
        guard !rows.isEmpty else { throw DataError.noExamples(path: file.path) }
        for row in rows where row.label.isEmpty {
            throw DataError.malformedRow(path: file.path, line: row.line,
                                         expected: "a label in column \"\(labelColumn)\"", found: "an empty label")
        }
        return (file, rows)
    }

    private func tableRows(_ file: SourceFile, dialect: DelimitedDialect) throws -> [RawRow] {
        let table = try HeaderTable(file, dialect: dialect)
        let text = try table.column(textColumn)
        let pair = try textPairColumn.map { try table.column($0) }
        let label = try table.column(labelColumn)
        return table.rows.map { row in
            RawRow(line: row.line, text: row.fields[text], textPair: pair.map { row.fields[$0] },
                   label: row.fields[label])
        }
    }

    /// Reads one file into examples whose labels index `classNames`; ids are
    /// "<file name>:<line>". An unknown label is an error with file:line and the classes.
    public func read(_ url: URL, classNames: [String]) throws -> [Example] {
        try examples(rawRows(url), classes: ClassIndex(classNames))
    }

    /// Maps the rows' labels through `classes`.
    func examples(_ table: (file: SourceFile, rows: [RawRow]), classes: ClassIndex) throws -> [Example] {
        try table.rows.map { row in
            Example(id: "\(table.file.name):\(row.line)", text: row.text, textPair: row.textPair,
                    label: try classes.index(of: row.label, in: table.file, line: row.line))
        }
    }
}

extension TaskData {
    /// A task from the user's own CSV / TSV / JSON Lines files (see `GenericTableSpec`).
    /// The class list is `spec.classNames` when given, else the distinct labels of the TRAIN
    /// file, sorted (numerically when all are integers); validation, test and OOD files use
    /// that list, so a label unseen in training is an error naming file:line and the classes.
    /// Without a validation file the training file is split by `paperSplit` with
    /// `validationFraction`. `name` defaults to the training file's folder name.
    public static func loadGeneric(name: String? = nil, train: URL, validation: URL? = nil, test: URL,
                                   ood: [(name: String, url: URL)] = [], spec: GenericTableSpec,
                                   validationFraction: Double = 0.1) throws -> TaskData
    {
        guard validationFraction >= 0 && validationFraction < 1 else {
            throw DataError.invalidSetting(name: "validation fraction", value: String(validationFraction),
                                           expected: "a number in [0, 1)")
        }
        let trainTable = try spec.rawRows(train)
        let classNames = try spec.classNames ?? ClassIndex.inferred(from: trainTable.rows.map { ($0.line, $0.label) }, in: trainTable.file)
        let classes = ClassIndex(classNames)
        func read(_ url: URL) throws -> [Example] { try spec.examples(spec.rawRows(url), classes: classes) }
        let training = try spec.examples(trainTable, classes: classes)
        let (trainSplit, validationSplit) = try validation.map { (training, try read($0)) }
            ?? paperSplit(training, validationFraction: validationFraction)
        return TaskData(name: name ?? train.deletingLastPathComponent().lastPathComponent,
                        classNames: classNames, train: trainSplit, validation: validationSplit,
                        test: try read(test),
                        ood: try ood.map { NamedSplit(name: $0.name, examples: try read($0.url)) })
    }
}
