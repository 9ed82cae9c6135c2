-- One index by student serves the history (student, time), the balance as of a moment and
-- the consistency check's per-student sums (it covers points_change), where two did before:
-- every award now writes one student index entry instead of two.
DROP INDEX point_transactions_student_time;
DROP INDEX point_transactions_student_sum;
CREATE INDEX point_transactions_student ON point_transactions (student_id, created_at, points_change);
