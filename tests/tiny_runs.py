"""Small real runs for tests: TinyCNN's ``conv2`` on the generated shapes."""
import torch
from tiny_models import TinyCNN


def tiny_conv2_run(tmp_path_factory, n_images: int = 240):
    """The path of a fresh run of TinyCNN's ``conv2`` on ``shapes:n_images`` (one per call)."""
    import topoact
    from topoact.data.synthetic import SHAPE_CLASSES
    from topoact.models import load_model

    torch.manual_seed(0)
    bundle = load_model(TinyCNN(len(SHAPE_CLASSES)).eval(), class_names=list(SHAPE_CLASSES),
                        input_size=(32, 32))
    path = tmp_path_factory.mktemp("runs") / "tiny"
    topoact.collect(bundle, f"shapes:{n_images}", ["conv2"], out=path, num_workers=0,
                    progress=False, chunk_size=n_images // 2, batch_size=n_images // 4)
    return path
