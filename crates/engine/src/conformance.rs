//! The backend conformance suite (the idea of River's driver tests): the
//! lifecycle, schedule and crash-recovery tests and the property-based model
//! test, written once against the [`Storage`] interface. A backend joins by
//! implementing [`Backend`] (how to make an empty place for its data and open
//! it) and one line: `conformance_suite!(name, Type);`. A second backend runs
//! the same tests unchanged.

use crate::storage::Storage;

/// A backend the suite can run: a place for its data that outlives one open
/// (so a test can crash the backend, dropping uncommitted work, and open it again).
pub(crate) trait Backend: Storage + Sized {
    /// Where the data lives between opens: a temporary file, a database.
    type Place;

    /// A new, empty place.
    fn place() -> Self::Place;

    /// Opens the data at `place`, as a process that starts.
    fn open(place: &Self::Place) -> Self;
}

/// redb: a temporary directory holding one database file.
impl Backend for crate::store::Store {
    type Place = tempfile::TempDir;

    fn place() -> tempfile::TempDir {
        tempfile::tempdir().expect("a temporary directory")
    }

    fn open(place: &tempfile::TempDir) -> Self {
        crate::store::Store::open(&place.path().join("baton.redb")).expect("open the store")
    }
}

/// Every test of the suite, as `#[test]`s in a module `$name`, for `$backend`.
macro_rules! conformance_suite {
    // A backend several processes open at once also runs the tests of
    // concurrent writers.
    ($name:ident, $backend:ty, shared $shared:ident) => {
        conformance_suite!($name, $backend);
        mod $shared {
            use crate::firing::tests as firing;
            use crate::lifecycle::tests as lifecycle;

            #[test]
            fn two_writers_at_once_claim_each_task_once_and_complete_it_once() {
                lifecycle::two_writers_at_once_claim_each_task_once_and_complete_it_once::<$backend>();
            }

            #[test]
            fn runners_at_once_fire_each_schedule_once_per_fire_time() {
                firing::runners_at_once_fire_each_schedule_once_per_fire_time::<$backend>();
            }

            #[test]
            fn firing_and_ending_fires_at_once_never_deadlock() {
                firing::firing_and_ending_fires_at_once_never_deadlock::<$backend>();
            }
        }
    };
    ($name:ident, $backend:ty) => {
        mod $name {
            use crate::batcher::tests as batcher;
            use crate::firing::tests as firing;
            use crate::group::tests as group;
            use crate::lifecycle::tests as lifecycle;
            use crate::model_tests as model;

            macro_rules! run {
                ($module:ident :: $test:ident) => {
                    #[test]
                    fn $test() {
                        $module::$test::<$backend>();
                    }
                };
            }

            run!(lifecycle::a_late_outcome_after_cancel_changes_nothing);
            run!(lifecycle::a_duplicate_or_stale_outcome_records_no_second_completion);
            run!(lifecycle::an_outcome_from_before_a_crash_is_ignored_after_recovery);
            run!(lifecycle::an_outcome_from_before_a_manual_retry_is_ignored);
            run!(lifecycle::streamed_output_is_appended_only_to_the_current_attempt_and_a_retry_starts_afresh);
            run!(lifecycle::a_claim_skips_held_tasks_within_its_scan_and_they_keep_their_place);
            run!(lifecycle::a_burst_claimed_as_it_is_promoted_is_what_promoting_then_claiming_gives);
            run!(lifecycle::recovery_after_a_crash_requeues_running_tasks_and_fails_those_out_of_attempts);
            run!(firing::a_due_schedule_fires_once_per_occurrence_even_across_a_crash);
            run!(lifecycle::a_completion_records_its_deliveries_in_the_same_unit_and_tries_move_them_on);
            run!(lifecycle::budgets_reserve_at_claim_and_every_ending_settles_in_the_same_unit);
            run!(group::a_join_waits_for_every_row_and_reads_their_answers_in_input_order);
            run!(group::a_failed_row_cancels_an_all_join_and_a_group_retry_brings_both_back);
            run!(group::a_completed_join_runs_on_what_completed_and_a_group_cancel_never_starts_it);
            run!(group::a_finished_group_cannot_be_cancelled_and_stays_as_it_ended);
            run!(model::store_and_lifecycle_agree_with_the_model_across_commits_aborts_and_crashes);
            run!(model::an_imported_running_record_is_recovered_like_after_a_crash);
            run!(batcher::a_restart_keeps_submitted_batch_attempts_and_gives_back_unsubmitted_ones);
        }
    };
}

conformance_suite!(redb, crate::store::Store);
conformance_suite!(postgres, crate::pg::PgStore, shared postgres_shared);
