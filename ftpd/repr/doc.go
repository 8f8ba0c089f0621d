// Package repr converts the data stream of an FTP transfer between the bytes
// of a file and the representation a session chose with TYPE, STRU and MODE
// (RFC 959 3.1, 3.4; RFC 1123 4.1.2; MODE Z as lftp and FileZilla speak it).
//
// The control layer parses the command arguments with ParseType, ParseStru
// and ParseMode (a refusal is a *ReplyError carrying 501 or 504 and the reply
// text), keeps a Representation per session, and wraps the file handle of a
// transfer: NewDownload turns a file reader into a reader of wire bytes,
// NewUpload turns a file writer into a writer of wire bytes. Both stream:
// they hold a bounded amount of data whatever the file's size (about 400 KiB
// for a download and an upload together, plus about 700 KiB for the zlib
// compressor of a MODE Z download). For TYPE I
// or L 8 with STRU F and MODE S nothing is converted (IsIdentity):
// NewDownload returns the file itself, and the control layer should not wrap
// uploads either, so that sendfile and splice keep working.
//
// # On disk
//
// Files stay in the partner's native form: TYPE I and L 8 store the bytes as
// uploaded; TYPE A and E store text with lines ending in LF. TYPE E
// translates between the EBCDIC code page (IBM-1047 by default, IBM-037
// selectable) and ISO-8859-1 file bytes, the pair z/OS FTP uses by default;
// both code pages are permutations of Latin-1, so every file, UTF-8 or not,
// round-trips byte for byte. As in z/OS's tables, LF and NEL swap: the file's
// LF is EBCDIC NL (0x15), the file's NEL (0x85) is EBCDIC LF (0x25). NL is
// the end of line RFC 959 3.4 names for EBCDIC text without record structure,
// and the one z/OS uses ("a text file of EBCDIC data type ... the new-line
// character (X'15') is used to delimit a line", z/OS IP User's Guide, "How to
// transfer data with FTP").
//
// # On the wire
//
//	TYPE     STRU F                                STRU R
//	A [N]    NVT-ASCII, LF <-> CRLF; a CR not      one record per line, without its LF;
//	         before LF is kept as it is            CR and other bytes as they are
//	E [N]    EBCDIC, LF <-> NL (0x15)              one record per line, in EBCDIC, without its LF
//	I, L 8   bytes as they are                     the whole file is one record (none if empty)
//
//	MODE S   STRU F: the bytes; the end of file is the close of the connection.
//	         STRU R: a data byte 0xFF is sent 0xFF 0xFF, each record ends with
//	         EOR 0xFF 0x01, the file with EOF 0xFF 0x02 (0xFF 0x03 accepted).
//	MODE B   blocks of a descriptor byte, a 16-bit count and up to 65535 bytes;
//	         EOR 0x80 on a record's last block, EOF 0x40 on the last block.
//	         Restart-marker blocks (0x10) are accepted on upload: their data is
//	         the marker, reported to Upload.OnRestartMarker, not stored;
//	         suspected errors (0x20) are accepted and the data stored.
//	MODE C   byte strings (0 + 7-bit count), replicated bytes (10 + 6-bit
//	         count, one byte), filler strings (11 + 6-bit count: space 0x20 in
//	         TYPE A, 0x40 in TYPE E, NUL in TYPE I and L 8) and escapes (a zero
//	         byte followed by a block-mode descriptor): 0x00 0x80 ends a record,
//	         0x00 0x40 the file.
//	MODE Z   one zlib stream (RFC 1950) per transfer of the MODE S bytes (with
//	         STRU R's control codes); the download's level is
//	         Representation.Level.
//
// Every TYPE x STRU x MODE is converted in both directions.
//
// # Choices where RFC 959 leaves room
//
// A missing final newline: in STRU F nothing is added (TYPE A sends the last
// line without CRLF, and the upload stores it as it came). In STRU R a text
// file's last line is sent as a complete record with its EOR, because RFC 959
// 3.4 makes every EOR explicit, the final one included; stored back it ends
// with LF. So a download then an upload gives back the file byte for byte,
// except that under STRU R a text file that lacked a final LF gains one. An
// upload whose last record has no EOR before the EOF stores that record
// without LF.
//
// Binary record structure: a file has no record boundaries on disk, so a
// TYPE I or L 8 download in STRU R sends the file as one record, and an
// upload stores its records one after the other. An upload of one record
// (what the server sends) comes back identical; the boundaries between
// several records are not kept.
//
// Record ends under STRU F: an EOR flag in a MODE B block or MODE C escape is
// accepted and ignored (lines are in the data); the server never sends one.
//
// A record containing the line end (LF in TYPE A, NL in TYPE E) becomes two
// lines on disk, and so two records when downloaded.
//
// In MODE C, RFC 959 says an escape's descriptor codes "apply to the
// succeeding string of bytes". A restart-marker escape (0x00 0x10) is read
// that way: the byte string that follows is the marker. EOR and EOF escapes
// mark the end of the record or file at their position, after the data they
// end, as stream mode's control codes do. Descriptor 0 and suspected errors
// change nothing.
//
// Wire forms are canonical on download, so that an upload in the server's
// own form downloads to the same bytes: MODE B fills blocks to 65535 bytes
// and sends EOR on a record's last block and EOF on a block of its own after
// the last record (in STRU F, on the block with the file's last bytes); MODE
// C cuts each run of one byte value into pieces of 63, sends a piece of three
// or more as a filler or replicated byte and anything else in strings of up
// to 127 bytes. Decoders accept every form RFC 959 allows.
//
// REST and restart markers: the package reports each marker with the number
// of file bytes stored before it (for "110 MARK"); what REST means in block
// and compressed mode is the control layer's decision.
//
// # Errors
//
// Wire data an upload cannot decode is a *FormatError: errors.Is tells
// ErrMalformed, ErrTruncated (the data stopped before its end-of-file marker)
// and ErrAfterEOF apart, Code gives the reply (426 for a truncated transfer,
// 451 otherwise), and its text names the mode and the offset, never a path.
// Errors of the file itself are returned as they are, for the control layer
// to map. After an error an Upload returns it from every call; the file
// holds only part of the data, and the control layer discards it.
package repr
