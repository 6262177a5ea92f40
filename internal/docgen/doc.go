// Package docgen turns mptcpkit's --help texts into shell completion
// scripts (bash, zsh, fish) and man pages, so that both say exactly what
// the help says: verbs come from the Usage lines and a "Verbs:" section,
// flags from every --flag the help mentions.
package docgen
