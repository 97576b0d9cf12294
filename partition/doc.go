// Package partition holds the partition (canary) arithmetic and the order in
// which an upgrade visits slots.
//
// A partition p means only slots with index >= p are upgraded (design section
// 4); slots below it keep the version they run, and a pod below the partition
// that must be recreated gets that version back, as a StatefulSet does.
package partition
