import Foundation

/// A calendar day: days since 1970-01-01 in the database time zone.
public typealias Day = Int32

/// Calendar arithmetic on proleptic Gregorian days, independent of Foundation.
public enum Calendar {
    /// Days since 1970-01-01 of a civil date (year, month 1–12, day 1–31).
    public static func day(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The civil date (year, month, day) of a day number.
    public static func civil(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// Whether (year, month, day) names a real date.
    public static func isValid(year: Int, month: Int, day: Int) -> Bool {
        guard (1...12).contains(month), day >= 1 else { return false }
        let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        return day <= lengths[month - 1]
    }

    /// The day of a `YYYY-MM-DD` text, or nil when it is not one or not a real date.
    public static func day(parsing text: String) -> Day? {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false).map { Int($0) }
        guard text.utf8.count == 10, parts.count == 3, let y = parts[0], let m = parts[1], let d = parts[2],
              isValid(year: y, month: m, day: d) else { return nil }
        return Day(day(year: y, month: m, day: d))
    }

    /// `YYYY-MM-DD` for a day number.
    public static func format(_ day: Day) -> String {
        let c = civil(Int(day))
        return "\(pad(c.year, 4))-\(pad(c.month, 2))-\(pad(c.day, 2))"
    }

    static func pad(_ v: Int, _ width: Int) -> String {
        let s = String(abs(v))
        return (v < 0 ? "-" : "") + String(repeating: "0", count: max(0, width - s.count)) + s
    }
}

/// The database's time zone: turns instants into local days and local times into instants.
public struct Zone: Sendable, Equatable {
    /// The IANA identifier, e.g. `UTC` or `America/New_York`.
    public let identifier: String
    private let zone: TimeZone?

    /// UTC.
    public static let utc = Zone(validated: "UTC", zone: nil)

    private init(validated identifier: String, zone: TimeZone?) {
        self.identifier = identifier
        self.zone = zone
    }

    /// The zone named `identifier`, or nil when the system does not know it.
    public init?(identifier: String) {
        if identifier == "UTC" || identifier == "Etc/UTC" || identifier == "Z" {
            self = .utc
            return
        }
        guard let tz = TimeZone(identifier: identifier) else { return nil }
        self.init(validated: identifier, zone: tz)
    }

    public static func == (a: Zone, b: Zone) -> Bool { a.identifier == b.identifier }

    /// Offset from UTC in seconds at the instant `ms` (milliseconds since the epoch).
    public func offset(atUTC ms: Int64) -> Int {
        guard let zone else { return 0 }
        return zone.secondsFromGMT(for: Date(timeIntervalSince1970: Double(ms) / 1000))
    }

    /// The local calendar day of the instant `ms`.
    public func day(of ms: Int64) -> Day {
        let local = ms + Int64(offset(atUTC: ms)) * 1000
        return Day(truncatingIfNeeded: floorDiv(local, 86_400_000))
    }

    /// The instant of a local wall-clock time given in milliseconds since the epoch
    /// as if it were UTC.
    public func instant(ofLocal localMs: Int64) -> Int64 {
        guard zone != nil else { return localMs }
        // Two passes settle the offset across a transition.
        var guess = localMs - Int64(offset(atUTC: localMs)) * 1000
        guess = localMs - Int64(offset(atUTC: guess)) * 1000
        return guess
    }

    /// The instant of local midnight starting `day`.
    public func startOfDay(_ day: Day) -> Int64 { instant(ofLocal: Int64(day) * 86_400_000) }
}

@inline(__always)
func floorDiv(_ a: Int64, _ b: Int64) -> Int64 {
    let q = a / b
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q
}

/// Parses the `at` forms of SPEC 1.1 and 1.4: `2025-03-14`, `19970101`,
/// `2025-03-14T10:30`, `2025-03-14T10:30:00`, `…:00.250`, with `Z` or `±HH:MM`.
/// Times without an offset are in `zone`. Returns milliseconds since the epoch.
public enum TimestampParser {
    /// Parses `text`; nil when it is not one of the accepted forms or not a real date.
    public static func parse(_ text: String, zone: Zone) -> Int64? {
        var t = text
        return t.withUTF8 { parse(bytes: $0, zone: zone) }
    }

    static func parse(bytes b: UnsafeBufferPointer<UInt8>, zone: Zone) -> Int64? {
        var i = 0
        func digits(_ n: Int) -> Int? {
            guard i + n <= b.count else { return nil }
            var v = 0
            for k in 0..<n {
                let c = b[i + k]
                guard c >= 48 && c <= 57 else { return nil }
                v = v * 10 + Int(c - 48)
            }
            i += n
            return v
        }
        func take(_ c: UInt8) -> Bool {
            if i < b.count && b[i] == c { i += 1; return true }
            return false
        }
        guard let year = digits(4) else { return nil }
        let basic = !take(UInt8(ascii: "-"))
        guard let month = digits(2) else { return nil }
        if !basic { guard take(UInt8(ascii: "-")) else { return nil } }
        guard let day = digits(2), Calendar.isValid(year: year, month: month, day: day) else { return nil }
        let days = Int64(Calendar.day(year: year, month: month, day: day))
        var ms = days * 86_400_000
        if i == b.count { return zone.startOfDay(Day(truncatingIfNeeded: days)) }
        guard take(UInt8(ascii: "T")) || take(UInt8(ascii: " ")) else { return nil }
        guard let hour = digits(2), hour < 24 else { return nil }
        if !basic { guard take(UInt8(ascii: ":")) else { return nil } } else { _ = take(UInt8(ascii: ":")) }
        guard let minute = digits(2), minute < 60 else { return nil }
        var second = 0, millis = 0
        if take(UInt8(ascii: ":")) || (basic && i < b.count && b[i] >= 48 && b[i] <= 57) {
            guard let s = digits(2), s < 61 else { return nil }
            second = min(s, 59)
            if take(UInt8(ascii: ".")) || take(UInt8(ascii: ",")) {
                var scale = 100
                var any = false
                while i < b.count, b[i] >= 48, b[i] <= 57 {
                    millis += Int(b[i] - 48) * scale
                    scale /= 10
                    i += 1
                    any = true
                }
                guard any else { return nil }
            }
        }
        ms += Int64(((hour * 60 + minute) * 60 + second) * 1000 + millis)
        if i == b.count { return zone.instant(ofLocal: ms) }
        if take(UInt8(ascii: "Z")) { return i == b.count ? ms : nil }
        let sign: Int64
        if take(UInt8(ascii: "+")) { sign = 1 } else if take(UInt8(ascii: "-")) { sign = -1 } else { return nil }
        guard let oh = digits(2), oh <= 18 else { return nil }
        _ = take(UInt8(ascii: ":"))
        let om = i == b.count ? 0 : (digits(2) ?? -1)
        guard om >= 0, om < 60, i == b.count else { return nil }
        return ms - sign * Int64(oh * 3600 + om * 60) * 1000
    }

    /// Formats an instant for export: `YYYY-MM-DD` when it is local midnight,
    /// else local date-time with its offset (`Z` in UTC), with milliseconds if any.
    public static func format(_ ms: Int64, zone: Zone) -> String {
        let offset = zone.offset(atUTC: ms)
        let local = ms + Int64(offset) * 1000
        let day = floorDiv(local, 86_400_000)
        let rem = local - day * 86_400_000
        let date = Calendar.format(Day(truncatingIfNeeded: day))
        if rem == 0 { return date }
        let totalSeconds = Int(rem / 1000), millis = Int(rem % 1000)
        var s = date + "T" + Calendar.pad(totalSeconds / 3600, 2) + ":" + Calendar.pad(totalSeconds / 60 % 60, 2)
            + ":" + Calendar.pad(totalSeconds % 60, 2)
        if millis != 0 { s += "." + Calendar.pad(millis, 3) }
        if offset == 0 { return s + "Z" }
        let a = abs(offset)
        return s + (offset < 0 ? "-" : "+") + Calendar.pad(a / 3600, 2) + ":" + Calendar.pad(a / 60 % 60, 2)
    }
}
