import Patron

/// What Tab offers at the cursor: meta-commands at the start of a line, entities and
/// statement words first in a statement, saved-query names after `run`, data values
/// after `provider =`-like comparisons, and otherwise the fields of the statement's
/// entity, `client.`/`items.` fields, keywords and functions.
public enum Completion {
    /// Fields whose values are worth offering, and the query that lists them.
    static let valueSources: [String: String] = [
        "provider": "visits group by provider",
        "location": "visits group by location",
        "services": "visits group by services",
        "tier": "tiers group by tier",
        "category": "items group by category",
        "categories": "items group by category",
        "items": "items group by name",
        "name": "items group by name",
        "plan": "memberships group by plan",
        "source": "clients group by source",
        "channel": "purchases group by channel",
    ]

    /// Candidates for `word`, the text being typed, given the line before it.
    public static func candidates(before prefix: String, word: String, savedQueries: () -> [String],
                                  values: (String) -> [String]) -> [String] {
        let words = prefix.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "(" || $0 == "," || $0 == "\n" })
            .map { $0.lowercased() }
        let lowered = word.lowercased()
        func matching(_ xs: [String]) -> [String] {
            var seen = Set<String>()
            return xs.filter { $0.lowercased().hasPrefix(lowered) && seen.insert($0).inserted }.sorted()
        }
        if words.isEmpty {
            if word.hasPrefix(".") { return matching(MetaCommand.all.map(\.name) + [".exit", ".mode"]) }
            return matching(QueryVocabulary.entities + ["save", "run", "queries", "drop", "fit", "set"])
        }
        if words.first?.hasPrefix(".") == true {
            if words.count == 1, ["format", "mode", "last"].contains(where: { words[0] == "." + $0 }) {
                return matching(Shell.Mode.allCases.map(\.rawValue))
            }
            if words.count == 1, words[0] == ".fields" { return matching(QueryVocabulary.entities) }
            if words.count == 1, [".timer", ".chart"].contains(words[0]) { return matching(["on", "off"]) }
            return []
        }
        if words.count == 1, words[0] == "run" || words[0] == "drop" { return matching(savedQueries()) }
        // A value after `field =`, `field !=`, `field contains`, `field in (`.
        let last = words.last ?? ""
        let beforeLast = words.count >= 2 ? words[words.count - 2] : ""
        if ["=", "!=", "contains", "in"].contains(last), let field = beforeLast.split(separator: ".").last.map(String.init),
           valueSources[field] != nil {
            return matching(values(field).map { $0.contains(" ") || $0.isEmpty ? "\"\($0)\"" : $0 })
        }
        if let dot = word.firstIndex(of: ".") {
            let head = word[..<dot].lowercased()
            let fields: [String]
            if head == "client" { fields = QueryVocabulary.fields(of: "clients")?.map(\.name) ?? [] }
            else if head == "items" || head == "item" { fields = QueryVocabulary.itemFields }
            else { fields = QueryVocabulary.fields(of: head)?.map(\.name) ?? [] }
            return matching(fields.map { "\(word[..<dot]).\($0)" })
        }
        // Fields of the innermost entity named so far (`has visit where …` switches).
        var entity = words[0] == "save" && words.count > 3 ? words[3] : words[0]
        let openers: Set<String> = ["has", "no", "count", "sum", "avg", "min", "max", "median"]
        for (i, w) in words.enumerated() where i > 0 && openers.contains(words[i - 1]) && QueryVocabulary.fields(of: w) != nil {
            entity = w
        }
        let fields = QueryVocabulary.fields(of: entity)?.map(\.name) ?? QueryVocabulary.fields(of: "clients")?.map(\.name) ?? []
        return matching(fields + QueryVocabulary.keywords + QueryVocabulary.functions + QueryVocabulary.entities)
    }
}
