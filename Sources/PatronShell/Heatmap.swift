import Patron

/// A `cohorts` result drawn as a heatmap on a colour terminal: each period cell's
/// background is shaded by its value (retention from 0 to 100%, revenue from $0 to
/// the largest cell), retention cells read as percentages (`42.1%`). The shell uses
/// it only for people (table and box modes) when colour is allowed and charts are
/// on; every other mode prints the plain result, with the raw numbers.
enum Heatmap {
    /// Background colours of the 256-colour palette, from the lowest shade to the
    /// highest, and whether text on each reads better in black.
    static let shades: [(background: Int, blackText: Bool)] = [
        (236, false), (23, false), (24, false), (25, false), (31, false), (37, true), (43, true), (49, true),
    ]

    /// Whether a result has the shape of a `cohorts` result: `cohort`, `clients`,
    /// then `p0, p1, …` of numbers (retention) or money (revenue).
    static func applies(_ columns: [Column]) -> Bool {
        guard columns.count >= 3, columns[0].name == "cohort", columns[1].name == "clients" else { return false }
        let cells = columns[2...]
        guard let kind = cells.first?.kind, kind == .number || kind == .money else { return false }
        return cells.enumerated().allSatisfy { n, c in c.name == "p\(n)" && c.kind == kind }
    }

    /// The shade index (into ``shades``) of a cell, or nil for a null or non-numeric one.
    static func shade(_ v: Value, top: Double) -> Int? {
        let x: Double
        switch v {
        case .number(let n): x = n
        case .money(let m): x = top > 0 ? Double(m.cents) / top : 0
        default: return nil
        }
        let clamped = x.isFinite ? min(max(x, 0), 1) : 0
        return min(Int(clamped * Double(shades.count - 1) + 0.5), shades.count - 1)
    }

    /// The text of a cell for people: retention as a percentage with one decimal.
    static func text(_ v: Value, percent: Bool) -> String {
        if percent, case .number(let x) = v {
            let tenths = (x * 1000).rounded(.toNearestOrAwayFromZero) / 10
            return ValueFormat.number(tenths) + (tenths == tenths.rounded() ? ".0" : "") + "%"
        }
        return ValueFormat.human(v)
    }

    /// The whole table, ANSI-coloured, in the plain or box style, with the `(N rows)` line.
    static func render(columns: [Column], rows: [[Value]], box: Bool) -> String {
        let percent = columns.count > 2 && columns[2].kind == .number
        let top = rows.flatMap { $0.dropFirst(2) }.compactMap { v -> Double? in
            if case .money(let m) = v { return Double(m.cents) }
            return nil
        }.max() ?? 0
        let header = columns.map(\.name)
        let cells = rows.map { row in columns.indices.map { i in i < row.count ? text(row[i], percent: percent && i >= 2) : "" } }
        var widths = header.map(\.count)
        for r in cells { for (i, c) in r.enumerated() { widths[i] = max(widths[i], c.count) } }
        let right = columns.map { $0.kind == .number || $0.kind == .money }
        func pad(_ s: String, _ i: Int) -> String {
            let fill = String(repeating: " ", count: max(0, widths[i] - s.count))
            return right[i] ? fill + s : s + fill
        }
        func colour(_ s: String, _ shade: Int?) -> String {
            guard let shade else { return s }
            let (bg, black) = shades[shade]
            return "\u{1B}[48;5;\(bg)m\u{1B}[38;5;\(black ? 16 : 255)m" + s + "\u{1B}[0m"
        }
        func line(_ texts: [String], _ values: [Value]?) -> String {
            let parts = texts.enumerated().map { i, t in
                colour(" " + pad(t, i) + " ", i >= 2 ? values.flatMap { i < $0.count ? shade($0[i], top: top) : nil } : nil)
            }
            if box { return "│" + parts.joined(separator: "│") + "│\n" }
            var plain = Substring(parts.joined(separator: " "))
            while plain.last == " " { plain.removeLast() }
            return plain + "\n"
        }
        func rule(_ l: String, _ m: String, _ r: String) -> String {
            l + widths.map { String(repeating: "─", count: $0 + 2) }.joined(separator: m) + r + "\n"
        }
        var out = box ? rule("┌", "┬", "┐") : ""
        out += line(header, nil)
        out += box ? rule("├", "┼", "┤") : widths.map { " " + String(repeating: "-", count: $0) }.joined(separator: "  ") + "\n"
        for (r, texts) in cells.enumerated() { out += line(texts, rows[r]) }
        if box { out += rule("└", "┴", "┘") }
        out += rows.count == 1 ? "(1 row)\n" : "(\(rows.count) rows)\n"
        return out
    }
}
