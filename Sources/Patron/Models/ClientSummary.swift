/// One client's history as the lifetime-value models see it (SPEC 5.1, 5.2).
///
/// Times are in weeks (days ÷ 7) since the client's first activity day.
public struct ClientSummary: Sendable, Hashable {
    /// Repeat activity days: activity days − 1 (never negative).
    public var x: Int
    /// Weeks from the first to the last activity day (0 when `x` = 0).
    public var tx: Double
    /// Weeks from the first activity day to today (≥ `tx`).
    public var T: Double
    /// Mean value of the repeat activity days (every activity day but the first), in
    /// dollars; 0 when `x` = 0. Zero-value days count as zero inside the mean, and the mean
    /// may be negative when refunds dominate.
    public var monetary: Double

    /// A summary from its parts (no checking; the models sanitise what they read).
    public init(x: Int, tx: Double, T: Double, monetary: Double = 0) {
        self.x = x
        self.tx = tx
        self.T = T
        self.monetary = monetary
    }

    /// Summarises one client's activity days.
    ///
    /// - Parameters:
    ///   - activityDays: the client's distinct activity days as day numbers, ascending.
    ///     Unsorted input is sorted and duplicate days are merged (their values added).
    ///   - valuesInCents: the value of each activity day in cents (purchases minus refunds
    ///     that day), parallel to `activityDays`; missing trailing values count as 0.
    ///   - today: the day number of today; days after it are ignored.
    /// - Returns: nil when the client has no activity day on or before `today`.
    public init?(activityDays: [Int], valuesInCents: [Int64], today: Int) {
        var days: [(day: Int, cents: Int64)] = []
        days.reserveCapacity(activityDays.count)
        var ordered = true
        for (i, d) in activityDays.enumerated() where d <= today {
            let cents = i < valuesInCents.count ? valuesInCents[i] : 0
            if let last = days.last, last.day >= d { ordered = false }
            days.append((d, cents))
        }
        if !ordered {
            days.sort { $0.day < $1.day }
            var merged: [(day: Int, cents: Int64)] = []
            for d in days {
                if let last = merged.last, last.day == d.day {
                    merged[merged.count - 1].cents = last.cents &+ d.cents
                } else {
                    merged.append(d)
                }
            }
            days = merged
        }
        guard let first = days.first, let last = days.last else { return nil }
        let repeats = days.count - 1
        var total = 0.0
        for d in days.dropFirst() { total += Double(d.cents) }
        self.init(
            x: repeats,
            tx: Double(last.day - first.day) / 7,
            T: Double(today - first.day) / 7,
            monetary: repeats > 0 ? total / Double(repeats) / 100 : 0
        )
    }
}
