import Testing
@testable import Patron

/// Exact output of every result format (SPEC 4.6).
@Suite struct RenderTests {
    // One column of every kind, and a row of each kind's values plus an all-null row.
    static let allKinds: [Column] = [
        Column(name: "s", kind: .string), Column(name: "m", kind: .money), Column(name: "d", kind: .duration),
        Column(name: "t", kind: .date), Column(name: "n", kind: .number), Column(name: "b", kind: .boolean),
        Column(name: "l", kind: .list), Column(name: "z", kind: .null),
    ]
    static let allKindsRows: [[Value]] = [
        [.string("Ann"), .money(Money(cents: 123_450)), .duration(93), .date(day("2025-03-14")),
         .number(3), .bool(true), .list(["a", "b"]), .null],
        Array(repeating: .null, count: 8),
    ]

    // MARK: json / ndjson

    @Test func jsonEveryKindAndNulls() {
        #expect(renderResult(columns: Self.allKinds, rows: Self.allKindsRows, format: .json) == """
            [
            {"s":"Ann","m":1234.5,"d":93,"t":"2025-03-14","n":3,"b":true,"l":["a","b"],"z":null},
            {"s":null,"m":null,"d":null,"t":null,"n":null,"b":null,"l":null,"z":null}
            ]

            """)
    }

    @Test func ndjsonEveryKindAndNulls() {
        #expect(renderResult(columns: Self.allKinds, rows: Self.allKindsRows, format: .ndjson) == """
            {"s":"Ann","m":1234.5,"d":93,"t":"2025-03-14","n":3,"b":true,"l":["a","b"],"z":null}
            {"s":null,"m":null,"d":null,"t":null,"n":null,"b":null,"l":null,"z":null}

            """)
    }

    @Test func jsonMoneyDurationsAndNumbers() {
        let columns = [Column(name: "m", kind: .money), Column(name: "d", kind: .duration), Column(name: "n", kind: .number)]
        let rows: [[Value]] = [
            [.money(Money(cents: -300)), .duration(45.5), .number(2.5)],
            [.money(Money(cents: 5)), .duration(0.5), .number(-0.0)],
            [.money(Money(cents: 0)), .duration(0), .number(0.1)],
            [.money(Money(cents: -5)), .duration(-7), .number(.nan)],
            [.money(Money(cents: 123_456_789)), .duration(.infinity), .number(-.infinity)],
            [.money(Money(cents: 100_000_000)), .duration(1), .number(1e20)],
            [.money(Money(cents: 10)), .duration(2), .number(1.0 / 3.0)],
        ]
        #expect(renderResult(columns: columns, rows: rows, format: .ndjson) == """
            {"m":-3,"d":45.5,"n":2.5}
            {"m":0.05,"d":0.5,"n":0}
            {"m":0,"d":0,"n":0.1}
            {"m":-0.05,"d":-7,"n":null}
            {"m":1234567.89,"d":null,"n":null}
            {"m":1000000,"d":1,"n":1e+20}
            {"m":0.1,"d":2,"n":0.3333333333333333}

            """)
    }

    @Test func jsonStringEscaping() {
        let columns = [Column(name: "say \"x\"", kind: .string)]
        let rows: [[Value]] = [
            [.string("say \"hi\"")],
            [.string("back\\slash")],
            [.string("line\nbreak\r\n")],
            [.string("\t\u{08}\u{0C}")],
            [.string("bell\u{07} esc\u{1B} nul\u{00} us\u{1F} del\u{7F}")],
            [.string("café ☕ 日本 / <b>")],
            [.string("")],
        ]
        #expect(renderResult(columns: columns, rows: rows, format: .ndjson) == #"""
            {"say \"x\"":"say \"hi\""}
            {"say \"x\"":"back\\slash"}
            {"say \"x\"":"line\nbreak\r\n"}
            {"say \"x\"":"\t\b\f"}
            {"say \"x\"":"bell\u0007 esc\u001b nul\u0000 us\u001f del\#u{7F}"}
            {"say \"x\"":"café ☕ 日本 / <b>"}
            {"say \"x\"":""}

            """#)
    }

    @Test func jsonListsAndDuplicateColumnNames() {
        let columns = [Column(name: "x", kind: .list), Column(name: "x", kind: .number)]
        let rows: [[Value]] = [
            [.list(["botox", "say \"hi\""]), .number(1)],
            [.list([]), .number(2)],
        ]
        #expect(renderResult(columns: columns, rows: rows, format: .json) == """
            [
            {"x":["botox","say \\"hi\\""],"x":1},
            {"x":[],"x":2}
            ]

            """)
    }

    @Test func jsonEmptyResults() {
        let columns = [Column(name: "a", kind: .number)]
        #expect(renderResult(columns: columns, rows: [], format: .json) == "[]\n")
        #expect(renderResult(columns: columns, rows: [], format: .ndjson) == "")
        #expect(renderResult(columns: [], rows: [], format: .json) == "[]\n")
        #expect(renderResult(columns: [], rows: [[], []], format: .json) == "[\n{},\n{}\n]\n")
        #expect(renderResult(columns: [], rows: [[]], format: .ndjson) == "{}\n")
    }

    @Test func shortRowsArePaddedWithNullsAndExtraValuesIgnored() {
        let columns = [Column(name: "a", kind: .number), Column(name: "b", kind: .string)]
        let rows: [[Value]] = [[.number(1)], [.number(2), .string("x"), .string("ignored")]]
        #expect(renderResult(columns: columns, rows: rows, format: .ndjson) == "{\"a\":1,\"b\":null}\n{\"a\":2,\"b\":\"x\"}\n")
        #expect(renderResult(columns: columns, rows: rows, format: .csv) == "a,b\n1,\n2,x\n")
    }

    // MARK: csv

    @Test func csvEveryKindAndNulls() {
        #expect(renderResult(columns: Self.allKinds, rows: Self.allKindsRows, format: .csv) == """
            s,m,d,t,n,b,l,z
            Ann,1234.5,93,2025-03-14,3,true,a;b,
            ,,,,,,,

            """)
    }

    @Test func csvMoneyDurationsAndNumbers() {
        let columns = [Column(name: "m", kind: .money), Column(name: "d", kind: .duration), Column(name: "n", kind: .number)]
        let rows: [[Value]] = [
            [.money(Money(cents: -300)), .duration(45.5), .number(.nan)],
            [.money(Money(cents: 5)), .duration(0.5), .number(2.5)],
            [.money(Money(cents: 123_456_789)), .duration(0), .number(-1)],
        ]
        #expect(renderResult(columns: columns, rows: rows, format: .csv) == """
            m,d,n
            -3,45.5,
            0.05,0.5,2.5
            1234567.89,0,-1

            """)
    }

    @Test func csvQuoting() {
        let columns = [Column(name: "name, full", kind: .string), Column(name: "tags", kind: .list)]
        let rows: [[Value]] = [
            [.string("Smith, Ann"), .list(["a,b", "c"])],
            [.string("say \"hi\""), .list(["x", "y"])],
            [.string("two\nlines"), .list(["q\"t"])],
            [.string("cr\rhere"), .list([])],
            [.string(""), .null],
            [.null, .list(["one"])],
            [.string("  spaced  ; semi"), .list(["crlf\r\n"])],
        ]
        #expect(renderResult(columns: columns, rows: rows, format: .csv) == #"""
            "name, full",tags
            "Smith, Ann","a,b;c"
            "say ""hi""",x;y
            "two
            lines","q""t"
            "cr\#rhere",""
            "",
            ,one
              spaced  ; semi,"crlf\#r\#n"

            """#)
    }

    @Test func csvEmptyResults() {
        #expect(renderResult(columns: [Column(name: "a", kind: .number), Column(name: "b", kind: .string)], rows: [], format: .csv) == "a,b\n")
        #expect(renderResult(columns: [], rows: [], format: .csv) == "\n")
    }

    // MARK: markdown

    @Test func markdownEveryKindAlignmentAndEscaping() {
        #expect(renderResult(columns: Self.allKinds, rows: Self.allKindsRows, format: .markdown) == """
            | s | m | d | t | n | b | l | z |
            |---|---:|---:|---|---:|---|---|---|
            | Ann | $1,234.50 | 93d | 2025-03-14 | 3 | true | a, b |  |
            |  |  |  |  |  |  |  |  |

            """)
    }

    @Test func markdownPipesNewlinesMoneyAndDurations() {
        let columns = [Column(name: "a|b", kind: .string), Column(name: "spent", kind: .money), Column(name: "gap", kind: .duration)]
        let rows: [[Value]] = [
            [.string("x | y"), .money(Money(cents: -300)), .duration(45.5)],
            [.string("one\ntwo\r\nthree\rfour"), .money(Money(cents: 123_456_789)), .duration(0.5)],
            [.string("café"), .money(Money(cents: 0)), .duration(93)],
        ]
        #expect(renderResult(columns: columns, rows: rows, format: .markdown) == #"""
            | a\|b | spent | gap |
            |---|---:|---:|
            | x \| y | -$3.00 | 45.5d |
            | one<br>two<br>three<br>four | $1,234,567.89 | 0.5d |
            | café | $0.00 | 93d |

            """#)
    }

    @Test func markdownEmptyResults() {
        let columns = [Column(name: "a", kind: .string), Column(name: "n", kind: .number)]
        #expect(renderResult(columns: columns, rows: [], format: .markdown) == "| a | n |\n|---|---:|\n")
    }

    // MARK: table

    static let tableColumns: [Column] = [
        Column(name: "name", kind: .string), Column(name: "spent", kind: .money), Column(name: "gap", kind: .duration),
        Column(name: "last", kind: .date), Column(name: "vip", kind: .boolean), Column(name: "tags", kind: .list),
    ]
    static let tableRows: [[Value]] = [
        [.string("Ann"), .money(Money(cents: 123_450)), .duration(93), .date(day("2025-03-14")), .bool(true), .list(["botox", "filler"])],
        [.string("Bo"), .money(Money(cents: -300)), .duration(45.5), .null, .bool(false), .list([])],
        [.null, .money(Money(cents: 5)), .null, .date(day("2024-12-01")), .null, .list(["vip"])],
    ]

    @Test func tablePlainAlignment() {
        // Numeric kinds (money, duration) right-aligned, the rest left; no trailing blanks.
        #expect(renderResult(columns: Self.tableColumns, rows: Self.tableRows, format: .table) == """
            name      spent    gap  last        vip    tags
            ----  ---------  -----  ----------  -----  -------------
            Ann   $1,234.50    93d  2025-03-14  true   botox, filler
            Bo       -$3.00  45.5d              false
                      $0.05         2024-12-01         vip
            (3 rows)

            """)
    }

    @Test func tableBoxAlignment() {
        #expect(renderResult(columns: Self.tableColumns, rows: Self.tableRows, format: .table, style: .box) == """
            ┌──────┬───────────┬───────┬────────────┬───────┬───────────────┐
            │ name │     spent │   gap │ last       │ vip   │ tags          │
            ├──────┼───────────┼───────┼────────────┼───────┼───────────────┤
            │ Ann  │ $1,234.50 │   93d │ 2025-03-14 │ true  │ botox, filler │
            │ Bo   │    -$3.00 │ 45.5d │            │ false │               │
            │      │     $0.05 │       │ 2024-12-01 │       │ vip           │
            └──────┴───────────┴───────┴────────────┴───────┴───────────────┘
            (3 rows)

            """)
    }

    @Test func tableNumbersWideNamesAndOneRow() {
        let columns = [Column(name: "n", kind: .number), Column(name: "client name", kind: .string)]
        let rows: [[Value]] = [[.number(1234.5), .string("Zoë 日本")]]
        #expect(renderResult(columns: columns, rows: rows, format: .table) == """
                 n  client name
            ------  -----------
            1234.5  Zoë 日本
            (1 row)

            """)
        #expect(renderResult(columns: columns, rows: rows, format: .table, style: .box) == """
            ┌────────┬─────────────┐
            │      n │ client name │
            ├────────┼─────────────┤
            │ 1234.5 │ Zoë 日本      │
            └────────┴─────────────┘
            (1 row)

            """)
    }

    @Test func tableControlCharactersBecomeSpaces() {
        let columns = [Column(name: "note", kind: .string), Column(name: "n", kind: .number)]
        let rows: [[Value]] = [[.string("a\tb\nc\r\nd"), .number(7)]]
        #expect(renderResult(columns: columns, rows: rows, format: .table) == """
            note     n
            -------  -
            a b c d  7
            (1 row)

            """)
    }

    @Test func tableEmptyResults() {
        let columns = [Column(name: "name", kind: .string), Column(name: "spent", kind: .money)]
        #expect(renderResult(columns: columns, rows: [], format: .table) == """
            name  spent
            ----  -----
            (0 rows)

            """)
        #expect(renderResult(columns: columns, rows: [], format: .table, style: .box) == """
            ┌──────┬───────┐
            │ name │ spent │
            ├──────┼───────┤
            └──────┴───────┘
            (0 rows)

            """)
        #expect(renderResult(columns: [], rows: [], format: .table) == "\n\n(0 rows)\n")
        #expect(renderResult(columns: [], rows: [], format: .table, style: .box) == "┌┐\n││\n├┤\n└┘\n(0 rows)\n")
        // An empty column name still gets a visible rule.
        #expect(renderResult(columns: [Column(name: "", kind: .string)], rows: [[.null]], format: .table) == "\n-\n\n(1 row)\n")
    }

    // MARK: streaming

    @Test(arguments: [OutputFormat.csv, .json, .ndjson, .markdown])
    func writerStreamsRowByRowAndMatchesRenderResult(format: OutputFormat) {
        var writer = ResultWriter(format: format, columns: Self.allKinds)
        var streamed = writer.begin()
        for row in Self.allKindsRows {
            let piece = writer.row(row)
            #expect(!piece.isEmpty, "each row is written as it arrives")
            streamed += piece
        }
        streamed += writer.end()
        #expect(streamed == renderResult(columns: Self.allKinds, rows: Self.allKindsRows, format: format))

        var empty = ResultWriter(format: format, columns: Self.allKinds)
        #expect(empty.begin() + empty.end() == renderResult(columns: Self.allKinds, rows: [], format: format))
    }

    @Test func jsonWriterPieces() {
        var writer = ResultWriter(format: .json, columns: [Column(name: "a", kind: .number)])
        #expect(writer.begin() == "[")
        #expect(writer.row([.number(1)]) == "\n{\"a\":1}")
        #expect(writer.row([.number(2)]) == ",\n{\"a\":2}")
        #expect(writer.end() == "\n]\n")
    }

    @Test(arguments: [TableStyle.plain, .box])
    func tableWriterBuffersUntilEnd(style: TableStyle) {
        var writer = ResultWriter(format: .table, columns: Self.tableColumns, style: style)
        var streamed = writer.begin()
        for row in Self.tableRows {
            #expect(writer.row(row) == "")
        }
        streamed += writer.end()
        #expect(streamed == renderResult(columns: Self.tableColumns, rows: Self.tableRows, format: .table, style: style))
    }

    @Test func formatNames() {
        #expect(OutputFormat.allCases.map(\.rawValue) == ["table", "csv", "json", "ndjson", "markdown"])
        #expect(OutputFormat(rawValue: "ndjson") == .ndjson)
        #expect(OutputFormat(rawValue: "xml") == nil)
    }
}


/// A result reads the same built from rows or column by column: row count, cells,
/// rows, equality, null padding, and rows set afresh.
@Test func queryResultColumnsAndRowsAgree() throws {
    let columns = [Column(name: "id", kind: .string), Column(name: "spend", kind: .money)]
    let rows: [[Value]] = [[.string("a"), .money(Money(cents: 150))], [.string("b"), .null], [.string("c")]]
    let r = QueryResult(columns: columns, rows: rows)
    #expect(r.rowCount == 3)
    #expect(r.columnValues.count == 2 && r.columnValues.allSatisfy { $0.count == 3 })
    #expect(r.value(row: 0, column: 1) == .money(Money(cents: 150)))
    #expect(r.row(2) == [.string("c"), .null])  // the narrow row padded
    #expect(r.rows == [rows[0], rows[1], [.string("c"), .null]])
    let copy = r
    #expect(copy.rows == r.rows && copy == r)
    var changed = r
    changed.rows = [[.string("z"), .money(Money(cents: 1))]]
    #expect(changed.rowCount == 1 && changed.value(row: 0, column: 0) == .string("z"))
    #expect(r.rowCount == 3, "setting rows on a copy leaves the original alone")
    #expect(QueryResult(columns: columns, rows: []) != QueryResult(columns: columns, rows: [[.string("a"), .null]]))

    // A database's answer (collected column by column) equals the same rows given row by row.
    let dir = TempDir()
    let db = try Database(path: dir.path("db"), options: .init(durable: false))
    try db.appendAndWait([
        Event(client: "a", at: 1_700_000_000_000, payload: .purchase(Purchase(amount: Money(cents: 150)))),
        Event(client: "b", at: 1_700_000_000_000, payload: .visit(Visit(services: ["botox"]))),
    ])
    for q in ["clients show id, spend", "clients show id, spend top 1 by spend", "clients where spend > $1000 show id"] {
        let answer = try db.query(q)
        #expect(QueryResult(columns: answer.columns, rows: answer.rows) == answer, "\(q)")
        var streamed: [[Value]] = []
        try db.query(q, columns: { _ in }, row: { streamed.append($0) })
        #expect(answer.rows == streamed, "collected and streamed differ on \(q)")
    }
    #expect(try db.query("clients show id, spend top 1 by spend").rows == [[.string("a"), .money(Money(cents: 150))]])
}
