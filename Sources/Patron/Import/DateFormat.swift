/// A date layout for `patron import --date-format`, in the `strftime` notation that
/// DuckDB's `dateformat` and Python's `strptime` use: `%m/%d/%Y` reads `03/14/2025`,
/// `%d.%m.%Y %H:%M` reads `14.03.2025 10:30`.
///
/// Directives: `%Y` (4-digit year), `%y` (2-digit year: 69–99 → 19xx, 00–68 → 20xx,
/// as POSIX says), `%m` and `%d` (1 or 2 digits), `%H` (0–23), `%I` with `%p`
/// (1–12 with AM/PM), `%M`, `%S`, `%b`/`%B` (English month name or its first three
/// letters, any case), `%%` (a percent sign). Any other character must appear as
/// written; a space also matches a run of spaces. Times are local to the database
/// time zone.
public struct DateFormat: Sendable, Equatable, CustomStringConvertible {
    enum Piece: Sendable, Equatable {
        case literal(UInt8)
        case space
        case year4, year2, month, day, hour24, hour12, minute, second, ampm, monthName
    }

    let pieces: [Piece]
    /// The layout as written.
    public let description: String

    /// Reads a layout; throws a message naming the bad directive.
    public init(_ text: String) throws(ImportOptionError) {
        var pieces: [Piece] = []
        let b = Array(text.utf8)
        var i = 0
        var sawYear = false, sawMonth = false, sawDay = false, sawHour12 = false, sawAmPm = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "%") {
                guard i + 1 < b.count else {
                    throw ImportOptionError("--date-format \"\(text)\": a lone % at the end (write %% for a percent sign)")
                }
                let d = b[i + 1]
                switch d {
                case UInt8(ascii: "Y"): pieces.append(.year4); sawYear = true
                case UInt8(ascii: "y"): pieces.append(.year2); sawYear = true
                case UInt8(ascii: "m"): pieces.append(.month); sawMonth = true
                case UInt8(ascii: "b"), UInt8(ascii: "B"): pieces.append(.monthName); sawMonth = true
                case UInt8(ascii: "d"), UInt8(ascii: "e"): pieces.append(.day); sawDay = true
                case UInt8(ascii: "H"): pieces.append(.hour24)
                case UInt8(ascii: "I"): pieces.append(.hour12); sawHour12 = true
                case UInt8(ascii: "M"): pieces.append(.minute)
                case UInt8(ascii: "S"): pieces.append(.second)
                case UInt8(ascii: "p"): pieces.append(.ampm); sawAmPm = true
                case UInt8(ascii: "%"): pieces.append(.literal(c))
                default:
                    throw ImportOptionError("--date-format \"\(text)\": %\(String(decoding: [d], as: UTF8.self)) is not a directive this reads (%Y %y %m %d %b %H %I %M %S %p %%)")
                }
                i += 2
            } else {
                pieces.append(c == UInt8(ascii: " ") ? .space : .literal(c))
                i += 1
            }
        }
        guard sawYear && sawMonth && sawDay else {
            throw ImportOptionError("--date-format \"\(text)\": needs a year (%Y or %y), a month (%m or %b) and a day (%d)")
        }
        guard sawHour12 == sawAmPm else {
            throw ImportOptionError("--date-format \"\(text)\": %I (12-hour clock) and %p (AM/PM) go together")
        }
        self.pieces = pieces
        self.description = text
    }

    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let fullMonthNames = ["january", "february", "march", "april", "may", "june", "july", "august",
                                         "september", "october", "november", "december"]

    /// The text rewritten as an ISO-8601 local date or date-time (`2025-03-14`,
    /// `2025-03-14T10:30:00`), or nil when it does not follow the layout or is not a
    /// real date.
    public func iso(_ text: String) -> String? {
        let b = Array(text.utf8)
        var i = 0
        var year: Int?, month: Int?, day: Int?, hour: Int?, minute = 0, second = 0
        var pm: Bool?
        func number(_ minDigits: Int, _ maxDigits: Int) -> Int? {
            var v = 0, n = 0
            while n < maxDigits, i < b.count, b[i] >= 48, b[i] <= 57 {
                v = v * 10 + Int(b[i] - 48)
                i += 1
                n += 1
            }
            return n >= minDigits ? v : nil
        }
        for piece in pieces {
            switch piece {
            case .literal(let c):
                guard i < b.count, b[i] == c else { return nil }
                i += 1
            case .space:
                guard i < b.count, b[i] == UInt8(ascii: " ") else { return nil }
                while i < b.count, b[i] == UInt8(ascii: " ") { i += 1 }
            case .year4: guard let v = number(4, 4) else { return nil }; year = v
            case .year2: guard let v = number(2, 2) else { return nil }; year = v >= 69 ? 1900 + v : 2000 + v
            case .month: guard let v = number(1, 2) else { return nil }; month = v
            case .day: guard let v = number(1, 2) else { return nil }; day = v
            case .hour24: guard let v = number(1, 2), v < 24 else { return nil }; hour = v
            case .hour12: guard let v = number(1, 2), (1...12).contains(v) else { return nil }; hour = v
            case .minute: guard let v = number(2, 2), v < 60 else { return nil }; minute = v
            case .second: guard let v = number(2, 2), v < 61 else { return nil }; second = min(v, 59)
            case .ampm:
                guard i + 1 < b.count else { return nil }
                let word = String(decoding: b[i..<(i + 2)], as: UTF8.self).lowercased()
                guard word == "am" || word == "pm" else { return nil }
                pm = word == "pm"
                i += 2
            case .monthName:
                var j = i
                while j < b.count, (b[j] | 0x20) >= UInt8(ascii: "a"), (b[j] | 0x20) <= UInt8(ascii: "z") { j += 1 }
                let word = String(decoding: b[i..<j], as: UTF8.self).lowercased()
                guard let m = Self.monthNames.firstIndex(of: word) ?? Self.fullMonthNames.firstIndex(of: word) else { return nil }
                month = m + 1
                i = j
            }
        }
        guard i == b.count, let year, let month, let day, Calendar.isValid(year: year, month: month, day: day) else { return nil }
        if let isPM = pm, let h = hour { hour = h % 12 + (isPM ? 12 : 0) }
        let date = Calendar.pad(year, 4) + "-" + Calendar.pad(month, 2) + "-" + Calendar.pad(day, 2)
        guard let hour else { return date }
        return date + "T" + Calendar.pad(hour, 2) + ":" + Calendar.pad(minute, 2) + ":" + Calendar.pad(second, 2)
    }
}

/// A bad `patron import` option (`--map`, `--date-format`, `--type`, `--system`).
public struct ImportOptionError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, naming the option and the value.
    public let description: String
    init(_ description: String) { self.description = description }
}
