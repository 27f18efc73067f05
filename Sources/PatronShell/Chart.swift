import Patron

/// Small terminal charts: a bar beside the first numeric column of grouped results.
enum Chart {
    /// Bars for each row, scaled to the largest absolute value of the first number,
    /// money or duration column (`after`: that column's index); nil when there is none
    /// or every value is zero or null.
    static func bars(columns: [Column], rows: [[Value]], unicode: Bool, width: Int = 24) -> (after: Int, bars: [String])? {
        guard let c = columns.firstIndex(where: { [.number, .money, .duration].contains($0.kind) }) else { return nil }
        func magnitude(_ v: Value) -> Double? {
            switch v {
            case .number(let x), .duration(let x): return abs(x)
            case .money(let m): return abs(Double(m.cents))
            default: return nil
            }
        }
        let values = rows.map { c < $0.count ? magnitude($0[c]) : nil }
        guard let top = values.compactMap({ $0 }).max(), top > 0 else { return nil }
        let full: Character = unicode ? "█" : "#"
        let eighths: [Character] = unicode ? [" ", "▏", "▎", "▍", "▌", "▋", "▊", "▉"] : [" ", " ", " ", " ", "#", "#", "#", "#"]
        let bars = values.map { v -> String in
            guard let v else { return "" }
            let units = v / top * Double(width) * 8
            let whole = Int(units) / 8, part = Int(units) % 8
            var s = String(repeating: full, count: whole)
            if part > 0 { s.append(eighths[part]) }
            return s
        }
        return (c, bars)
    }
}
