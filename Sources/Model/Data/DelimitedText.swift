import Foundation

/// One record of a delimited file: its fields and the 1-based line where it starts.
struct DelimitedRecord {
    let line: Int
    let fields: [String]
}

/// How a delimited file is split into records and fields.
struct DelimitedDialect {
    var delimiter: UInt8
    /// RFC 4180 quoting: a field that starts with `"` runs to the next lone `"`; `""` inside
    /// stands for one `"`, and delimiters and line breaks inside are data. A `"` anywhere
    /// else in a field is an ordinary character (as Python's csv module and pandas read it).
    /// When false every byte except the delimiter and line ends is data (GLUE TSV files,
    /// which contain unbalanced quotes, are read this way, as Hugging Face's GLUE loader does).
    var quoted: Bool

    /// Comma-separated values with RFC 4180 quoting.
    static let csv = DelimitedDialect(delimiter: ASCII.comma, quoted: true)
    /// Tab-separated values with the same quoting (what pandas `to_csv(sep="\t")` writes).
    static let quotedTSV = DelimitedDialect(delimiter: ASCII.tab, quoted: true)
    /// Tab-separated values without any quoting.
    static let plainTSV = DelimitedDialect(delimiter: ASCII.tab, quoted: false)
}

enum DelimitedText {
    /// Splits the file into records. Records end at "\n" or "\r\n" outside quotes; blank lines
    /// are skipped. Works on bytes: a field is decoded (strict UTF-8) only once it is complete.
    static func records(of file: SourceFile, dialect: DelimitedDialect) throws -> [DelimitedRecord] {
        let delimiter = dialect.delimiter
        return try file.bytes.withUnsafeBufferPointer { buffer in
            var records: [DelimitedRecord] = []
            var fields: [String] = []
            var unescaped: [UInt8] = []  // a quoted field's bytes with "" turned into "
            var position = file.contentStart
            var line = 1
            var recordLine = 1
            let end = buffer.count
            guard position < end else { return records }

            while true {
                // One field starts at `position`.
                if dialect.quoted && position < end && buffer[position] == ASCII.quote {
                    let fieldLine = line
                    position += 1
                    unescaped.removeAll(keepingCapacity: true)
                    while true {  // one segment up to the next quote per turn (memchr: fast on long reviews)
                        guard position < end, let base = buffer.baseAddress,
                              let found = memchr(base + position, Int32(ASCII.quote), end - position)
                        else {
                            throw DataError.malformedRow(path: file.path, line: fieldLine,
                                                         expected: "a closing quote for the field opened on this line",
                                                         found: "the end of the file")
                        }
                        let quoteIndex = position + (UnsafeRawPointer(found) - UnsafeRawPointer(base + position))
                        let segment = UnsafeBufferPointer(rebasing: buffer[position..<quoteIndex])
                        line += newlineCount(segment)
                        unescaped.append(contentsOf: segment)
                        if quoteIndex + 1 < end && buffer[quoteIndex + 1] == ASCII.quote {
                            unescaped.append(ASCII.quote)
                            position = quoteIndex + 2
                            continue
                        }
                        position = quoteIndex + 1
                        break
                    }
                    let atRecordEnd = position >= end || buffer[position] == ASCII.newline
                        || (buffer[position] == ASCII.carriageReturn && position + 1 < end
                            && buffer[position + 1] == ASCII.newline)
                    guard atRecordEnd || buffer[position] == delimiter else {
                        let found = String(decoding: [buffer[position]], as: UTF8.self)
                        throw DataError.malformedRow(path: file.path, line: line,
                                                     expected: "a delimiter or a line end after a closing quote (write \"\" for a quote inside a quoted field)",
                                                     found: "\"\(found)\"")
                    }
                    fields.append(try unescaped.withUnsafeBufferPointer { try file.decode($0, line: fieldLine) })
                } else {
                    let start = position
                    while position < end && buffer[position] != delimiter && buffer[position] != ASCII.newline {
                        position += 1
                    }
                    var stop = position
                    if position < end && buffer[position] == ASCII.newline && stop > start
                        && buffer[stop - 1] == ASCII.carriageReturn {
                        stop -= 1
                    }
                    fields.append(try file.decode(UnsafeBufferPointer(rebasing: buffer[start..<stop]), line: line))
                }

                // Now at a delimiter, a line end, or the end of the file.
                if position < end && buffer[position] == delimiter {
                    position += 1
                    continue
                }
                if !(fields.count == 1 && fields[0].isEmpty) {
                    records.append(DelimitedRecord(line: recordLine, fields: fields))
                }
                fields.removeAll(keepingCapacity: true)
                if position >= end { break }
                if buffer[position] == ASCII.carriageReturn { position += 1 }
                position += 1  // the "\n"
                line += 1
                recordLine = line
                if position >= end { break }
            }
            return records
        }
    }
}

/// The number of "\n" bytes (memchr jumps: line breaks inside quoted fields are rare).
private func newlineCount(_ bytes: UnsafeBufferPointer<UInt8>) -> Int {
    guard let base = bytes.baseAddress else { return 0 }
    var count = 0
    var offset = 0
    while offset < bytes.count, let found = memchr(base + offset, Int32(ASCII.newline), bytes.count - offset) {
        count += 1
        offset = UnsafeRawPointer(found) - UnsafeRawPointer(base) + 1
    }
    return count
}

/// A delimited file whose first record names the columns.
struct HeaderTable {
    let file: SourceFile
    let columns: [String]
    /// The data records (header excluded); each has exactly `columns.count` fields.
    let rows: [DelimitedRecord]

    init(_ file: SourceFile, dialect: DelimitedDialect) throws {
        let records = try DelimitedText.records(of: file, dialect: dialect)
        guard let header = records.first else { throw DataError.noExamples(path: file.path) }
        self.file = file
        columns = header.fields
        rows = Array(records.dropFirst())
        for row in rows where row.fields.count != columns.count {
            throw DataError.malformedRow(path: file.path, line: row.line,
                                         expected: "\(columns.count) fields (\(columns.joined(separator: ", ")))",
                                         found: "\(row.fields.count) field\(row.fields.count == 1 ? "" : "s")")
        }
    }

    /// The position of a named column, or an error listing the header's columns.
    func column(_ name: String) throws -> Int {
        guard let index = columns.firstIndex(of: name) else {
            throw DataError.missingColumn(path: file.path, line: nil, column: name, available: columns)
        }
        return index
    }
}
