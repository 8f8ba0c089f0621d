package ftpd

import (
	"slices"
	"strings"
)

// helpTopic is one command HELP describes.
type helpTopic struct{ verb, syntax string }

// helpTopics lists the commands this server carries out (the engine's and
// the control layer's; AUTH, PBSZ and PROT only with a TLS configuration),
// with their syntax.
func helpTopics() []helpTopic {
	return []helpTopic{
		{"ABOR", "ABOR (abort the transfer in progress)"},
		{"ACCT", "ACCT <account> (not needed here)"},
		{"ALLO", "ALLO <bytes>"},
		{"APPE", "APPE <file>"},
		{"AUTH", "AUTH TLS"},
		{"AVBL", "AVBL [<folder>]"},
		{"CDUP", "CDUP"},
		{"CLNT", "CLNT <client name>"},
		{"CWD", "CWD <folder>"},
		{"DELE", "DELE <file>"},
		{"EPRT", "EPRT |<1 or 2>|<your address>|<port>|"},
		{"EPSV", "EPSV"},
		{"FEAT", "FEAT"},
		{"HASH", "HASH <file>"},
		{"HELP", "HELP [<command>]"},
		{"LIST", "LIST [<path>]"},
		{"MD5", "MD5 <file>"},
		{"MDTM", "MDTM <file>"},
		{"MFMT", "MFMT <YYYYMMDDhhmmss> <file>"},
		{"MKD", "MKD <folder>"},
		{"MLSD", "MLSD [<folder>]"},
		{"MLST", "MLST [<path>]"},
		{"MODE", "MODE S | MODE B | MODE C | MODE Z"},
		{"NLST", "NLST [<folder>]"},
		{"NOOP", "NOOP"},
		{"OPTS", "OPTS UTF8 ON | OPTS HASH [<algorithm>] | OPTS MODE Z LEVEL <1-9>"},
		{"PASS", "PASS <password>"},
		{"PASV", "PASV"},
		{"PBSZ", "PBSZ 0"},
		{"PORT", "PORT h1,h2,h3,h4,p1,p2 (your address, a port from 1024)"},
		{"PROT", "PROT P | PROT C"},
		{"PWD", "PWD"},
		{"QUIT", "QUIT"},
		{"REST", "REST <byte offset>"},
		{"RETR", "RETR <file>"},
		{"RMD", "RMD <folder>"},
		{"RNFR", "RNFR <path>"},
		{"RNTO", "RNTO <path>"},
		{"SITE", "SITE <command> (SITE HELP lists them)"},
		{"SIZE", "SIZE <file>"},
		{"STAT", "STAT [<path>]"},
		{"STOR", "STOR <file>"},
		{"STRU", "STRU F | STRU R"},
		{"SYST", "SYST"},
		{"TYPE", "TYPE A [N] | TYPE E [N] | TYPE I | TYPE L 8"},
		{"USER", "USER <name>"},
		{"XCRC", "XCRC <file>"},
		{"XCWD", "XCWD <folder>"},
		{"XMD5", "XMD5 <file>"},
		{"XMKD", "XMKD <folder>"},
		{"XPWD", "XPWD"},
		{"XRMD", "XRMD <folder>"},
		{"XSHA", "XSHA <file>"},
		{"XSHA1", "XSHA1 <file>"},
		{"XSHA256", "XSHA256 <file>"},
		{"XSHA512", "XSHA512 <file>"},
	}
}

// help answers HELP (RFC 959 4.1.3; RFC 1123 4.1.3.5): 214 with the
// commands, or with one command's syntax.
func (c *controlConn) help(arg string) error {
	topics := helpTopics()
	if c.srv.TLSConfig == nil {
		topics = slices.DeleteFunc(topics, func(t helpTopic) bool {
			return t.verb == "AUTH" || t.verb == "PBSZ" || t.verb == "PROT"
		})
	}
	if arg = strings.ToUpper(strings.TrimSpace(arg)); arg != "" {
		i := slices.IndexFunc(topics, func(t helpTopic) bool { return t.verb == arg })
		if i < 0 {
			return c.reply(502, "Unknown command "+strings.Map(printable, arg))
		}
		return c.reply(214, "Syntax: "+topics[i].syntax)
	}
	lines := []string{"The following commands are recognized:"}
	for row := range slices.Chunk(topics, 10) {
		var b strings.Builder
		for _, t := range row {
			b.WriteString(t.verb)
			b.WriteString(strings.Repeat(" ", max(8-len(t.verb), 1)))
		}
		lines = append(lines, strings.TrimSpace(b.String()))
	}
	lines = append(lines, "HELP <command> gives its syntax")
	return c.reply(214, lines...)
}

// siteHelp answers SITE HELP with the SITE commands this server carries out.
func (c *controlConn) siteHelp() error {
	return c.reply(214, "SITE commands:", "CHMOD <mode> <path>", "MKDIR <folder>", "RMDIR <folder>",
		"HELP", "End")
}

// printable keeps a client's text printable in a reply.
func printable(r rune) rune {
	if r < ' ' || r == 0x7f {
		return '?'
	}
	return r
}
