"""The multilayer perceptron: forward pass, backpropagation and the SGD update.

Nielsen's ``network.py`` vocabulary (``sizes``, ``weights``, ``biases``,
``feedforward``, ``backprop``, ``update_mini_batch``; his ``evaluate`` is
``count_correct`` here, apart from ``train.measure``), vectorised over the
batch: a batch ``X`` has shape ``(n, sizes[0])`` and one-hot targets ``Y``
have shape ``(n, sizes[-1])``. Layer ``l`` computes
``a[l+1] = f(a[l] @ weights[l] + biases[l])`` with ``weights[l]`` of shape
``(sizes[l], sizes[l+1])`` and ``biases[l]`` of shape ``(sizes[l+1],)``.

The output layer is a softmax read with cross-entropy (the default) or, as in
the seed tutorial, a sigmoid read with the quadratic cost.

Training speed is set by the two big matrix products per layer (``a @ w``
forward, ``a.T @ delta`` backward); ``update_mini_batch`` keeps everything
else out of their way. It writes every intermediate into arrays kept between
steps (``Scratch``), stays in the network's dtype throughout, folds the
learning rate into the output error so the gradient products come out
already scaled, and never computes the error of the input layer, which
nothing uses. ``make bench`` measures the result against PyTorch.
"""

import numpy as np

ACTIVATIONS = ("sigmoid", "relu")
COSTS = ("cross_entropy", "quadratic")


def sigmoid(z, out=None):
    """Logistic function, written with tanh so large |z| cannot overflow."""
    out = np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


def softmax(z, out=None):
    """Row-wise softmax of logits ``z`` (n, k), stable for large logits."""
    out = np.subtract(z, z.max(axis=1, keepdims=True), out=out)
    np.exp(out, out=out)
    out /= out.sum(axis=1, keepdims=True)
    return out


class Scratch:
    """The arrays one training step writes into, reused so a step allocates no large ones.

    Only ``update_mini_batch`` writes here; inference allocates its own
    arrays, so several threads may predict with one network at once.

    ``layers[l]`` and ``deltas[l]`` hold the activation and the error dC/dz
    of layer ``l + 1`` for up to ``rows`` samples; ``nabla_w``, ``nabla_b``
    and ``decay`` are shaped like the weights and biases.
    """

    def __init__(self, sizes, rows, dtype):
        self.rows = rows
        self.layers = [np.empty((rows, k), dtype) for k in sizes[1:]]
        self.deltas = [np.empty((rows, k), dtype) for k in sizes[1:]]
        self.nabla_w = [np.empty((m, k), dtype) for m, k in zip(sizes[:-1], sizes[1:])]
        self.nabla_b = [np.empty(k, dtype) for k in sizes[1:]]
        self.decay = [np.empty_like(w) for w in self.nabla_w]

    def rows_of(self, arrays, n):
        """The first ``n`` rows of each array: views, still C-contiguous."""
        return arrays if n == self.rows else [a[:n] for a in arrays]


class Network:
    """A fully connected network; ``sizes`` lists the units per layer, input first."""

    def __init__(self, sizes, activation="sigmoid", cost="cross_entropy",
                 dtype=np.float32, seed=0, deskew=True):
        if len(sizes) < 2 or any(int(s) < 1 for s in sizes):
            raise ValueError(f"sizes must list at least two positive layer sizes, got {sizes!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        if cost not in COSTS:
            raise ValueError(f"cost must be one of {COSTS}, got {cost!r}")
        self.sizes = [int(s) for s in sizes]
        self.activation = activation
        self.cost = cost
        self.dtype = np.dtype(dtype)
        # The input contract: whether 28×28 images are deskewed before they reach
        # the first layer. It travels with the weights (checkpoints store it), and
        # ``model.inputs`` is the one function that applies it.
        self.deskew = bool(deskew)
        rng = np.random.default_rng(seed)
        # Scale 1/sqrt(fan_in) keeps sigmoid pre-activations out of saturation
        # (Nielsen's network2); ReLU wants He's sqrt(2/fan_in).
        gain = 2.0 if activation == "relu" else 1.0
        self.weights = [
            (rng.standard_normal((m, k)) * np.sqrt(gain / m)).astype(self.dtype)
            for m, k in zip(self.sizes[:-1], self.sizes[1:])
        ]
        self.biases = [np.zeros(k, dtype=self.dtype) for k in self.sizes[1:]]
        self.velocities = None
        self._scratch = None

    # -- forward ---------------------------------------------------------------

    def _check_input(self, X):
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.sizes[0]:
            raise ValueError(f"expected input of shape (n, {self.sizes[0]}), got {X.shape}")
        return X.astype(self.dtype, copy=False)

    def forward(self, X):
        """Every layer's activations for a batch ``X`` (n, sizes[0]).

        Returns a list ``[X, hidden_1, ..., output]``; entry ``l`` has shape
        ``(n, sizes[l])``. The hidden entries are what the draw page shows.
        """
        X = self._check_input(X)
        return self._forward(X, [np.empty((len(X), k), self.dtype) for k in self.sizes[1:]])

    def forward_from_z(self, z):
        """``forward``'s list ``[None, a_1, ..., output]`` given the first layer's z (n, sizes[1]).

        z = X w_0 + b_0 is linear in X: along a path t·x it is t (x w_0) + b_0,
        one product for the whole path, which is how ``model.explain`` walks it.
        """
        z = np.array(z, dtype=self.dtype, ndmin=2)
        if z.ndim != 2 or z.shape[1] != self.sizes[1]:
            raise ValueError(f"expected z of shape (n, {self.sizes[1]}), got {z.shape}")
        layers = [z] + [np.empty((len(z), k), self.dtype) for k in self.sizes[2:]]
        return self._forward(None, layers, given=1)

    def _forward(self, X, layers, given=0):
        """``[X, *layers]`` after writing layer ``l + 1``'s activation into ``layers[l]``.

        The first ``given`` entries of ``layers`` arrive holding their z already.
        """
        a = X
        last = len(self.weights) - 1
        for l, (w, b, z) in enumerate(zip(self.weights, self.biases, layers)):
            if l >= given:
                np.matmul(a, w, out=z)
                z += b
            if l < last:
                a = sigmoid(z, out=z) if self.activation == "sigmoid" else np.maximum(z, 0, out=z)
            elif self.cost == "cross_entropy":
                a = softmax(z, out=z)
            else:
                a = sigmoid(z, out=z)
        return [X, *layers]

    def feedforward(self, X):
        """Output probabilities (n, sizes[-1]) for a batch ``X`` (n, sizes[0])."""
        return self.forward(X)[-1]

    def predict(self, X):
        """The most probable class per row of ``X``: integer array (n,)."""
        return self.feedforward(X).argmax(axis=1)

    def count_correct(self, X, labels, batch_size=10000):
        """Number of rows of ``X`` whose prediction equals ``labels`` (n,)."""
        return int(sum((self.predict(X[i:i + batch_size]) == labels[i:i + batch_size]).sum()
                       for i in range(0, len(X), batch_size)))

    def loss(self, X, Y):
        """Mean cost over the batch: cross-entropy of the softmax, or the quadratic cost."""
        out = self.feedforward(X).astype(np.float64)
        Y = np.asarray(Y, dtype=np.float64)
        if self.cost == "cross_entropy":
            return float(-np.sum(Y * np.log(np.maximum(out, 1e-300))) / len(out))
        return float(0.5 * np.sum((out - Y) ** 2) / len(out))

    # -- backward --------------------------------------------------------------

    def backprop(self, X, Y):
        """Gradients of ``loss(X, Y)``: ``(nabla_b, nabla_w)`` shaped like biases, weights."""
        activations = self.forward(X)
        Y = self._check_targets(Y, activations[-1].shape)
        # Fresh arrays, not the scratch: the caller keeps these.
        deltas = [np.empty_like(a) for a in activations[1:]]
        nabla_b = [np.empty_like(b) for b in self.biases]
        nabla_w = [np.empty_like(w) for w in self.weights]
        return self._backward(activations, Y, 1.0 / len(Y), deltas, nabla_b, nabla_w)

    def _check_targets(self, Y, shape):
        Y = np.asarray(Y)
        if Y.ndim == 1:
            Y = Y[None, :]
        Y = Y.astype(self.dtype, copy=False)
        if Y.shape != shape:
            raise ValueError(f"expected targets of shape {shape}, got {Y.shape}")
        return Y

    def _backward(self, activations, Y, scale, deltas, nabla_b, nabla_w):
        """Fill ``nabla_b``, ``nabla_w`` with the gradients times ``scale`` (1/n gives the mean).

        ``deltas[l]`` (n, sizes[l+1]) receives layer ``l + 1``'s error dC/dz,
        times ``scale``; every gradient is linear in it, so one scaling of
        the output error scales them all.
        """
        out = activations[-1]
        delta = deltas[-1]
        # dC/dz at the output: softmax + cross-entropy collapse to (a - y);
        # sigmoid + quadratic is (a - y) * sigma'(z), the term the seed dropped "- y" from.
        np.subtract(out, Y, out=delta)
        if self.cost == "quadratic":
            delta *= out * (1 - out)
        delta *= self.dtype.type(scale)
        # Bias gradients sum the rows of delta; as a product with ones that runs
        # in BLAS, about three times faster than NumPy's sum over the first axis.
        ones = np.ones(len(delta), self.dtype)
        for l in range(len(self.weights) - 1, -1, -1):
            np.matmul(activations[l].T, delta, out=nabla_w[l])
            np.matmul(ones, delta, out=nabla_b[l])
            if l == 0:
                break  # the input layer's error would feed no gradient
            delta = self._error_below(delta, l, activations[l], deltas[l - 1])
        return nabla_b, nabla_w

    def _error_below(self, delta, l, a, out):
        """Layer ``l``'s error (n, sizes[l]) from layer ``l + 1``'s ``delta``, written into ``out``.

        ``a`` is layer ``l``'s activation: delta_l = (delta_{l+1} @ w_l.T) * sigma'(z_l).
        """
        np.matmul(delta, self.weights[l].T, out=out)
        if self.activation == "sigmoid":
            out *= a - a * a  # sigma'(z) = a (1 - a)
        else:
            out *= a > 0
        return out

    def backprop_hidden(self, activations, delta):
        """dS/dz_1 (n, sizes[1]) for a score S whose output error dS/dz_L is ``delta`` (n, sizes[-1]).

        ``activations`` is ``forward(X)`` (or ``forward_from_z``'s list). The
        same chain rule as ``backprop``, computing no weight gradients: what
        explaining a reading needs (``model.explain``).
        """
        for l in range(len(self.weights) - 1, 0, -1):
            delta = self._error_below(delta, l, activations[l], np.empty_like(activations[l]))
        return delta

    def backprop_input(self, activations, delta):
        """dS/dX (n, sizes[0]): ``backprop_hidden`` carried down through w_0 to the input."""
        return self.backprop_hidden(activations, delta) @ self.weights[0].T

    def astype(self, dtype):
        """This network with its weights and biases in ``dtype``: ``self`` if already so.

        A copy for reading only (no momentum, no training arrays); float64 gives
        explanations whose sums check to many digits on a float32 model.
        """
        dtype = np.dtype(dtype)
        if dtype == self.dtype:
            return self
        copy = object.__new__(Network)
        copy.__dict__.update(self.__dict__, dtype=dtype, velocities=None, _scratch=None,
                             weights=[w.astype(dtype) for w in self.weights],
                             biases=[b.astype(dtype) for b in self.biases])
        return copy

    # -- update ----------------------------------------------------------------

    def update_mini_batch(self, X, Y, eta, momentum=0.0, weight_decay=0.0):
        """One SGD step on the batch: v = momentum*v - eta*(grad + weight_decay*w); w += v.

        Weight decay (L2) applies to weights, not biases. Returns nothing;
        ``weights``, ``biases`` and the momentum buffers change in place.
        """
        X = self._check_input(X)
        n = len(X)
        Y = self._check_targets(Y, (n, self.sizes[-1]))
        if self._scratch is None or self._scratch.rows < n:
            self._scratch = Scratch(self.sizes, n, self.dtype)
        scratch = self._scratch
        activations = self._forward(X, scratch.rows_of(scratch.layers, n))
        nabla_b, nabla_w = self._backward(activations, Y, eta / n,
                                          scratch.rows_of(scratch.deltas, n),
                                          scratch.nabla_b, scratch.nabla_w)
        if weight_decay:
            decay = self.dtype.type(eta * weight_decay)
            for w, g, term in zip(self.weights, nabla_w, scratch.decay):
                g += np.multiply(w, decay, out=term)
        params = self.weights + self.biases
        grads = nabla_w + nabla_b
        # Each parameter's new value is written over its gradient and copied
        # back, rather than added in place: BLAS's other thread has just read
        # the weights into its core's cache, and a read-modify-write of those
        # lines costs several times a read followed by a plain copy.
        if momentum:
            if self.velocities is None:
                self.velocities = [np.zeros_like(p) for p in params]
            mu = self.dtype.type(momentum)
            for p, g, v in zip(params, grads, self.velocities):
                v *= mu
                v -= g
                np.add(p, v, out=g)
        else:
            for p, g in zip(params, grads):
                np.subtract(p, g, out=g)
        for p, new in zip(params, grads):
            np.copyto(p, new)
