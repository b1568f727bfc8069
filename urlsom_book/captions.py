"""The paper's own captions of its eleven figures, verbatim (typos included) from the paper's text, keyed by
the notebook that redraws each figure. The book prints each beside this build's reading, marked as the paper's.

Example:
    >>> number, text = PAPER_CAPTIONS["fig03_loss_landscape"]
    >>> number, text.startswith("We vary the *Softmax* input from 0 to 6.")
    (3, True)
"""

from __future__ import annotations

# notebook -> (figure number, caption text without its "Fig. N." prefix)
PAPER_CAPTIONS: dict[str, tuple[int, str]] = {
    "fig01_network": (1, (
        'URL_SOM network. The projection, convolution and *Softmax* are 2D single channel layers. Notice the '
        'fixed 2D Gaussian convolution after the linear projection and before the *Softmax*. Adding dropout '
        'or L2 regularization to linear projection layer (not shown in the figure) improved SOM response '
        'slightly.'
    )),
    "fig02_softmax_geometry": (2, (
        'Softmax output vector p is on the line between 2 WTA vectors $p1$ and $p2$. L2 normalization will '
        'take p from the Softmax line into P on the unit circle. Equal probability vector u is transformed '
        'into U .'
    )),
    "fig03_loss_landscape": (3, (
        'We vary the *Softmax* input from 0 to 6. The minimum of the combined loss $loss_{WTA} + '
        'loss_{collapse}$ is reached when *Softmax* is saturated for large inputs (WTA) and the probability '
        'of selecting p_1 is 50%.'
    )),
    "fig04_cifar10_map": (4, (
        'CIFAR10 SOM for all 60000 samples. WTA response is shown on a 30 by 30 neuron grid after two '
        'separate runs. Fixed Gaussian filter with Sigma = 5 was used. Neural selectivity is 70.3% and '
        '70.58%. All items have separate clusters except for the cat and the deer. Cat data surrounds the dog'
        ' data, and the deer data surrounds the horse data. It is interesting that the bird and airplane data'
        ' are relatively close. All non-animal objects tend to be close to each other. The two plots '
        'highlight that this is a non-linear optimization result and subsequent runs may not repeat the same '
        'exact visual distribution, but the highlighted semantic relations do persist over multiple runs. The'
        ' 2D representation distribution confirms that $loss_{collapse}$ (see Section IV.C) is preventing '
        'collapse by encouraging representation to spread evenly among all output neurons.'
    )),
    "fig05_cifar10_loss": (5, (
        'CIFAR10 loss as a function of epoch number using batch size = 256. Adam optimizer with warmup is '
        'applied. Learning rate switches from 0.0001 to 0.0005 at epoch 5 and switches to 0.001 at epoch 10. '
        'This explains the two glitches seen. Learning was performed with early stopping if the loss does not'
        ' improve for 10 epochs. In this case, early stopping occurred at epoch 322.'
    )),
    "fig06_neuron_scatter": (6, (
        'SOM visualization for samples that share same winner-take-all neurons. CIFAR10 response is zoomed. '
        'Plot shows added random (-0.4 to 0.4) uniform scatter around each neuron for display purposes only '
        'to highlight all samples that share the same winner-take-all neurons. Notice that some neurons '
        'respond to fewer samples than others. Having some neurons not respond to any samples is not '
        'desirable since we would like SOM to be a space-filling response without wasting neurons. We saw in '
        'some instances that two incompatible clusters are separated by dead neurons if they are close to '
        'each other. Dead neurons could be considered a reasonable representation of discontinuity between '
        'incompatible clusters.'
    )),
    "fig07_cifar10_sigma": (7, (
        'CIFAR10 SOM for all 60000 samples after changing Sigma from 3 (top plot) to 10 (bottom plot). Neural'
        ' selectivity decreased from 71.19% to 70.19%. As a general observation, neural selectivity improves '
        'with smaller filter support at the expense of more clusters and noisier maps. However, the change is'
        ' not drastic. Notice the presence of non-responding neurons which is not a desirable property in '
        'terms of neural efficiency but necessary to represent discontinuity by separating incompatible '
        'clusters if they ended up close to each other.'
    )),
    "fig08_svhn_map": (8, (
        'SVHN SOM for all 99289 samples after 188 epochs. We used a Gaussian filter with Sigma = 5. Neural '
        'selectivity is 91.50%. All items have separate clusters. We used the same network and the same '
        'contrastive data augmentation as CIFAR10, except for left/right random image flip because it is not '
        'a valid symmetry for SVHN. There are two clusters per item representing the different street '
        'numbers. The explanation of this phenomenon is because SVHN has bright numbers with dark backgrounds'
        ' and dark numbers on bright backgrounds. Numbers with opposite front/back brightness are assigned to'
        ' different clusters. Neural networks are not invariant to image level inversion and trying to add '
        'image level inversion to the data augmentation reduces SOM quality.'
    )),
    "fig09_svhn_sigma10": (9, (
        'SVHN SOM for all 99289 samples after increasing the Gaussian filter Sigma from 5 to 10. Neural '
        'selectivity is 91.06% which is similar to previous data with Sigma = 5. However, there are still '
        'multiple clusters per item representing the different street numbers with added artifacts not seen '
        'with Sigma = 5. Notice the lines formed by dead neurons between some clusters.'
    )),
    "fig10_svhn_loss": (10, (
        'SVNH loss as a function of epoch number using batch size = 256. Same optimization used as CIFAR10 '
        'but gradient descent had an early stop at epoch 188 because of loss flattening.'
    )),
    "fig11_student_t": (11, (
        'CIFAR10 neural selectivity using the t-student convolution filter $\\frac{1}{1+(x^2+y^2)}$ in the top'
        ' plot improved slightly to 73.33% from 72.12% with filter $\\frac{1}{1+\\frac{(x^2+y^2)}{18}}$ in the '
        'bottom plot at the expense of more clusters, more dead neurons, and noisier SOM.'
    )),
}


def paper_caption(notebook: str) -> tuple[int, str] | None:
    """(figure number, caption) of the paper figure ``notebook`` redraws, or None (a study has none)."""
    return PAPER_CAPTIONS.get(notebook)
