//! Attacks on a CNN trained briefly on the bundled sample.

use classgen::analysis::robustness::{attack, AttackKind, AttackSettings};
use classgen::runs::checkpoint;

mod common;
use common::train_on_sample;

#[test]
fn fgsm_and_pgd_lower_the_accuracy_of_a_trained_cnn() {
    let trained = train_on_sample(4096, 200);
    let (run_dir, data) = (&trained.run_dir, &trained.data);
    let (net, _) = checkpoint::load_network(run_dir, &candle_core::Device::Cpu).unwrap();
    let test = &data.test;
    let settings = AttackSettings {
        kind: AttackKind::Fgsm,
        epsilon: 0.2,
        targeted: false,
        steps: 5,
        step_size: 0.05,
        seed: 1,
        batch: 64,
    };
    let fgsm = attack(&net, &test.images, &test.labels, &settings).unwrap();
    assert!(fgsm.clean_accuracy > 0.7, "{fgsm:?}");
    assert!(fgsm.accuracy < fgsm.clean_accuracy - 0.2, "{fgsm:?}");
    assert!(
        fgsm.mean_linf <= 0.2 + 1e-6 && fgsm.mean_linf > 0.1,
        "{fgsm:?}"
    );
    assert_eq!(
        fgsm,
        attack(&net, &test.images, &test.labels, &settings).unwrap()
    );
    // A few PGD steps towards a target reach it more often than chance (1 in 10).
    let pgd = attack(
        &net,
        &test.images,
        &test.labels,
        &AttackSettings {
            kind: AttackKind::Pgd,
            targeted: true,
            ..settings
        },
    )
    .unwrap();
    assert!(pgd.accuracy < pgd.clean_accuracy, "{pgd:?}");
    assert!(pgd.success_rate > 0.2, "{pgd:?}");
}
