// Package rollback holds the rollback policy of the rolling-upgrade design
// (section 7) and the decision whether an automatic rollback may start.
//
// The counting rule (section 7.3): each failed upgrade that triggers an
// automatic rollback adds one to the count; a completed upgrade resets it;
// once the count reaches the limit, automatic rollback stops and a failed
// upgrade leaves the group Failed for a person to look at.
package rollback
